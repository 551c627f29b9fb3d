"""`make run` serves what it says: the core answers gRPC health, every bridge answers its own
protocol on the port and path of its DialectSpec, and SIGTERM stops them all cleanly."""
from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import subprocess
import sys
import urllib.request
from typing import Any

import websockets

from bridges import dialects
from bridges.runtime import DialectSpec
from tests.bridges.dialect_drivers import DIALECTS, HTTP_WEBSOCKET_DIALECTS, collect
from tests.conftest import ROOT, free_port, wait_for_health

SPECS = dialects.installed()
PROBE_SECONDS = 30.0  # for one dialect's first exchange, core call included


def _free_offset() -> int:
    highest = 65535 - max(spec.port_in_stack for spec in SPECS)  # google_speech is on 50052
    for _ in range(50):
        offset = random.randint(min(10000, highest // 2), highest)
        ok = True
        for spec in SPECS:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", spec.port_in_stack + offset))
                except OSError:
                    ok = False
        if ok:
            return offset
    raise RuntimeError("no free port range")


def _google_speech_probe(port: int) -> None:
    """Google's own client: Recognize on a second of silence answers OK, with no results."""
    import grpc
    from google.cloud import speech_v1 as speech
    from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = speech.SpeechClient(transport=SpeechGrpcTransport(channel=channel))
        response = client.recognize(config=speech.RecognitionConfig(
            encoding=speech.RecognitionConfig.AudioEncoding.LINEAR16, sample_rate_hertz=16000, language_code="en-US"),
            audio=speech.RecognitionAudio(content=b"\0\0" * 16000), timeout=PROBE_SECONDS)
    assert not response.results, response




async def _first_exchange(spec: DialectSpec, port: int) -> None:
    """Open a session in the dialect's own terms and read its documented answer; a dialect that
    answers a config with nothing (nexa) is asked to stop at once and must end normally (1000)."""
    if spec.name in PROBES:
        return await PROBES[spec.name](port)
    driver = {**DIALECTS, **HTTP_WEBSOCKET_DIALECTS}[spec.name]
    url = f"ws://127.0.0.1:{port}{spec.path.replace('{client_id}', 'stack-probe')}"
    async with websockets.connect(url, open_timeout=10) as ws:
        await ws.send(driver.config)
        if driver.answered is None:
            await ws.send(driver.stop)
            messages = await collect(ws, PROBE_SECONDS)
            errors = [m for m in messages if driver.is_error(m)]
            assert ws.close_code == 1000 and not errors, (ws.close_code, messages)
            return
        messages: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_SECONDS
        while not driver.answered(messages) and loop.time() < deadline:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), deadline - loop.time())))
        assert driver.answered(messages), (spec.name, messages)
        assert not [m for m in messages if driver.is_error(m)], messages


async def _wyoming_describe(port: int) -> None:
    """Wyoming (raw TCP): `describe` is answered with `info` listing the core's models."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b'{"type": "describe"}\n')
        header = json.loads(await asyncio.wait_for(reader.readline(), PROBE_SECONDS))
        data = json.loads(await reader.readexactly(header["data_length"]))
    finally:
        writer.close()
    assert header["type"] == "info" and data["asr"][0]["models"], (header, data)


def _openai_models(port: int) -> None:
    """OpenAI's own SDK: the model list names OpenAI's transcription models and the core's."""
    import openai

    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=PROBE_SECONDS) as client:
        ids = [model.id for model in client.models.list()]
    assert "whisper-1" in ids and any("/" in i for i in ids), ids


# Dialects on another transport than WebSocket: their first exchange, by name.
# Dialects not driven through a WebSocket driver: their first exchange, with their vendor's client.
PROBES = {"google_speech": lambda port: asyncio.to_thread(_google_speech_probe, port), "wyoming": _wyoming_describe,
          "openai": lambda port: asyncio.to_thread(_openai_models, port)}


async def _wait_listening(port: int, proc: subprocess.Popen, seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        assert proc.poll() is None, "the stack exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert loop.time() < deadline, f"nothing listens on {port} after {seconds:.0f} s"
            await asyncio.sleep(0.2)


def test_stack_serves_the_core_and_every_dialect_then_stops_cleanly(tmp_path):
    assert [spec.name for spec in SPECS] == list(dialects.NAMES), "every dialect is installed here"
    ports = [spec.port_in_stack for spec in SPECS]
    assert len(set(ports)) == len(ports), f"two dialects share a port under make run: {ports}"
    core_port, offset = free_port(), _free_offset()
    log = open(tmp_path / "stack.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "asr_stack", "--host", "127.0.0.1",
                             "--core-port", str(core_port), "--port-offset", str(offset)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"127.0.0.1:{core_port}", proc=proc)  # the core: gRPC health SERVING

        async def probe_all() -> None:
            for spec in SPECS:
                await _wait_listening(spec.port_in_stack + offset, proc)
                await _first_exchange(spec, spec.port_in_stack + offset)

        asyncio.run(probe_all())
        page_port = next(spec.port_in_stack for spec in SPECS if spec.name == "openai") + offset
        with urllib.request.urlopen(f"http://127.0.0.1:{page_port}/", timeout=10) as page:
            assert b"<title>Live captions" in page.read()  # the page the launcher names (docs/page.md)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
    output = (tmp_path / "stack.log").read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert f"Live captions: http://localhost:{page_port}/" in output
