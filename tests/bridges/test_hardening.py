"""Issue 8, bridge side, end to end: bad input in every dialect with a healthy neighbour, a
client that never reads, per-client caps and refusals before the upgrade (docs/limits.md)."""
from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any

import numpy as np
import psutil
import pytest
import websockets
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from bridge_helpers import BridgeProcess, start_bridge
from dialect_drivers import DIALECTS, Dialect, bad_inputs, collect
from tests.audio_fixtures import UTTERANCES, silence, speech, wer
from tests.conftest import free_port

INPUT_CLOSE_CODES = {1003, 1007, 1008, 1009}


async def neighbour(d: Dialect, port: int, seconds: float) -> tuple[str, list[dict[str, Any]]]:
    """A well-behaved session that streams speech for about `seconds` and returns its final text."""
    reference = f"{UTTERANCES[0]} {UTTERANCES[1]}"
    audio = np.concatenate([speech(UTTERANCES[0]), silence(0.8), speech(UTTERANCES[1]), silence(1.0)])
    chunk = 1600
    pause = max(0.0, seconds / (len(audio) / chunk))
    messages: list[dict[str, Any]] = []
    async with websockets.connect(d.url(port, "neighbour")) as ws:
        async def read() -> None:
            try:
                async for raw in ws:
                    messages.append(json.loads(raw))
                    if messages[-1].get("type") == "recording_stopped" or messages[-1].get("code") == "SESSION_STOPPED":
                        return
            except websockets.ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        await ws.send(d.config)
        await asyncio.sleep(0.5)
        for start in range(0, len(audio), chunk):
            await ws.send(d.audio(audio[start:start + chunk]))
            await asyncio.sleep(pause)
        await ws.send(d.stop)
        await asyncio.wait_for(reader, 90)
    return reference, messages


def final_text(d: Dialect, messages: list[dict[str, Any]]) -> str:
    if d.name == "whisperlive":
        last = [m["segments"] for m in messages if "segments" in m][-1]
        return " ".join(s["text"] for s in last if s["completed"])
    if d.name == "vosk":  # results have text, partials have "partial"
        return " ".join(m["text"] for m in messages if m.get("text"))
    # funasr's final after stop_recording holds only what was not final yet: every dialect's
    # transcript is its finals, each read once
    return " ".join(m["text"] for m in messages if m.get("is_final") and m["text"])


async def send_bad_input(d: Dialect, port: int, client_id: str, frames: list[str | bytes],
                         configure: bool) -> tuple[int, list[dict[str, Any]], int | None]:
    """(local port, messages after the bad frames, close code or None while still open)."""
    async with websockets.connect(d.url(port, client_id), max_size=None) as ws:
        local_port = ws.local_address[1]
        if d.greets:
            await collect(ws, 0.3)
        if configure:
            await ws.send(d.config)
            await collect(ws, 0.8)  # ready messages (SESSION_STARTED, SERVER_READY, ...)
        for frame in frames:
            try:
                await ws.send(frame)
            except websockets.ConnectionClosed:
                break
        messages = await collect(ws, 2.0)
        return local_port, messages, ws.close_code


def session_of(log: str, local_port: int) -> str:
    match = re.search(rf"session_start dialect=\S+ session=(\S+) peer=127\.0\.0\.1:{local_port} ", log)
    assert match, f"no session_start for peer port {local_port}"
    return match.group(1)


@pytest.fixture(scope="module")
def bridges(core_address, tmp_path_factory) -> dict[str, BridgeProcess]:
    started = {name: start_bridge(tmp_path_factory.mktemp(name), name, core_address, *d.extra_flags)
               for name, d in DIALECTS.items()}
    yield started
    for bridge in started.values():
        bridge.stop()


@pytest.mark.parametrize("name", list(DIALECTS))
async def test_bad_input_gets_the_dialect_error_while_a_neighbour_transcribes(bridges, name):
    d, bridge = DIALECTS[name], bridges[name]
    cases = bad_inputs(d)
    healthy = asyncio.create_task(neighbour(d, bridge.port, seconds=8.0))
    outcomes = {}
    for i, (case, (frames, configure)) in enumerate(cases.items()):
        outcomes[case] = await send_bad_input(d, bridge.port, f"bad-{i}", frames, configure)
    # a multi-MB text frame and invalid UTF-8 are refused by the WebSocket layer itself
    outcomes["text frame of 3 MB"] = await send_bad_input(d, bridge.port, "bad-big", ["x" * (3 << 20)], False)
    outcomes["invalid UTF-8"] = await send_bad_input(d, bridge.port, "bad-utf8", [], False)
    async with websockets.connect(d.url(bridge.port, "bad-utf8b")) as ws:
        await ws.send(b"{\"\xff\xfe\"}", text=True)
        outcomes["invalid UTF-8"] = (ws.local_address[1], await collect(ws, 2.0), ws.close_code)

    reference, messages = await healthy
    assert wer(reference, final_text(d, messages)) <= 0.25, messages
    await asyncio.sleep(0.5)  # let the last session_end lines reach the log
    log = bridge.log()
    assert "Traceback" not in log and "1011" not in log, log[-3000:]
    for case, (local_port, replies, close_code) in outcomes.items():
        refused = any(d.is_error(m) for m in replies) or close_code in INPUT_CLOSE_CODES
        if case == "audio after stop":
            refused = refused or close_code == 1000  # the session had already ended cleanly
        assert refused, (case, replies, close_code)
        assert close_code != 1011, (case, replies)
        session = session_of(log, local_port)
        warnings = [line for line in log.splitlines() if " WARNING " in line and f"session={session} " in line]
        if case != "audio after stop" or warnings:
            assert len(warnings) == 1, (case, warnings)


def open_raw(port: int, path: str, receive_buffer: int) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket client on a plain socket (websockets' sans-I/O protocol): it reads only the
    handshake, never anything after it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        protocol.receive_data(sock.recv(4096))
    return sock, protocol


async def test_slow_reader_is_closed_after_send_timeout(tmp_path):
    """A client that asks for thousands of pongs and never reads them: the bridge closes it
    within send-timeout (plus the close timeout and a margin), its memory does not grow with
    what it could not send, and it keeps serving others. No core is needed for pings."""
    send_timeout = 2.0
    bridge = start_bridge(tmp_path, "rnnt", f"127.0.0.1:{free_port()}", "--send-timeout", str(send_timeout),
                          "--socket-send-buffer-bytes", "8192")
    try:
        rss_before = psutil.Process(bridge.proc.pid).memory_info().rss
        sock, protocol = open_raw(bridge.port, "/ws/transcribe", receive_buffer=16384)
        for _ in range(5000):
            protocol.send_text(b'{"type": "ping"}')
        started = time.monotonic()
        await asyncio.to_thread(sock.sendall, b"".join(protocol.data_to_send()))
        while "client did not read a message" not in bridge.log():
            assert time.monotonic() - started < send_timeout + 10, bridge.log()[-2000:]
            await asyncio.sleep(0.1)
        rss_after = psutil.Process(bridge.proc.pid).memory_info().rss
        assert rss_after - rss_before < 20 << 20, (rss_before, rss_after)
        async with websockets.connect(f"ws://127.0.0.1:{bridge.port}/ws/transcribe") as other:
            assert json.loads(await other.recv())["type"] == "connection"  # still serving
        await asyncio.sleep(3)  # close timeout: the close frame cannot be sent either, so the transport is aborted
        assert re.search(r"session_end dialect=rnnt session=rnnt-1 .* close=client_fault end='client did not read", bridge.log())
        sock.close()
    finally:
        bridge.stop()


async def connect_from(url: str, source: str) -> websockets.ClientConnection:
    sock = socket.socket()
    sock.bind((source, 0))
    host, port = url.split("//")[1].split("/")[0].split(":")
    sock.connect((host, int(port)))
    return await websockets.connect(url, sock=sock)


async def test_max_connections_per_client_is_refused_before_the_upgrade(tmp_path):
    bridge = start_bridge(tmp_path, "nexa", f"127.0.0.1:{free_port()}", "--max-connections-per-client", "2")
    url = bridge.url("/v1/audio/stream")
    try:
        first, second = await connect_from(url, "127.0.0.1"), await connect_from(url, "127.0.0.1")
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect_from(url, "127.0.0.1")
        assert refused.value.response.status_code == 503 and refused.value.response.headers["Retry-After"]
        assert b"per client address" in refused.value.response.body
        other = await connect_from(url, "127.0.0.2")  # another client address is not affected
        await first.close()
        await asyncio.sleep(0.3)
        again = await connect_from(url, "127.0.0.1")  # a freed slot is reusable
        for ws in (second, other, again):
            await ws.close()
        assert bridge.log().count("session_start") == 4
    finally:
        bridge.stop()
