"""The HTTP transport (bridges/transports/http.py) through the real runtime and a real core:
request/response, server-sent events, a WebSocket and static files on one port, driven by the
transcribe test dialect (transcribe_dialect.py) with JFK's speech."""
from __future__ import annotations

import asyncio
import json
import signal
import ssl

import httpx
import pytest
import websockets

from bridge_helpers import recv_all
from tests.security_helpers import make_pki
from transcribe_dialect import HTTP_SPEC, WEB
from transport_helpers import (WEB as WEB_KEY, WRONG_KEY, assert_jfk, dialect_process, jfk_pcm, keys_path,
                               refused_soon, running_bridge, tls_flags)


def base(bridge) -> str:
    return f"http://127.0.0.1:{bridge.port}"


async def read_events(response: httpx.Response) -> list[tuple[str, dict]]:
    """(event, data) of each server-sent event until the stream ends."""
    events, name, data = [], "message", []
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        elif not line and data:
            events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
    return events


async def test_a_posted_body_is_answered_with_its_transcript(core_address):
    async with running_bridge(HTTP_SPEC, core_address) as bridge, httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{base(bridge)}/v1/transcribe", content=jfk_pcm())
    assert response.status_code == 200 and response.headers["content-type"] == "application/json", response.text
    assert_jfk(response.json()["text"])


async def test_server_sent_events_stream_each_final_then_the_transcript(core_address):
    async with running_bridge(HTTP_SPEC, core_address) as bridge, httpx.AsyncClient(timeout=60) as client:
        async with client.stream("POST", f"{base(bridge)}/v1/events", content=jfk_pcm()) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = await read_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"final"}, events
    assert_jfk(events[-1][1]["text"])
    assert " ".join(data["text"] for name, data in events[:-1]) == events[-1][1]["text"]


async def test_a_websocket_on_the_same_port_streams_finals(core_address):
    pcm = jfk_pcm()
    async with running_bridge(HTTP_SPEC, core_address) as bridge:
        async with websockets.connect(f"ws://127.0.0.1:{bridge.port}/v1/stream") as ws:
            for i in range(0, len(pcm), 32000):
                await ws.send(pcm[i:i + 32000])
            await ws.send(json.dumps({"type": "end"}))
            messages = await recv_all(ws)
        assert ws.close_code == 1000
    assert messages[-1]["type"] == "done" and all(m["type"] == "final" for m in messages[:-1]), messages
    assert_jfk(messages[-1]["text"])


async def test_static_files_are_served_without_a_session(core_address):
    async with running_bridge(HTTP_SPEC, core_address) as bridge, httpx.AsyncClient(timeout=10) as client:
        page = await client.get(f"{base(bridge)}/web/")
        missing = await client.get(f"{base(bridge)}/web/nope.html")
        unknown = await client.post(f"{base(bridge)}/v2/transcribe", content=b"")
    assert page.status_code == 200 and page.text == (WEB / "index.html").read_text()
    assert missing.status_code == 404 and unknown.status_code == 404


async def test_a_wrong_api_key_is_refused_with_401_on_every_route(core_address, tmp_path):
    keys = str(keys_path(tmp_path))
    async with running_bridge(HTTP_SPEC, core_address, "--api-keys", keys) as bridge, \
            httpx.AsyncClient(timeout=60) as client:
        wrong = {"Authorization": f"Bearer {WRONG_KEY}"}
        refused = [await client.post(f"{base(bridge)}{path}", content=jfk_pcm(), headers=wrong)
                   for path in ("/v1/transcribe", "/v1/events")]
        refused.append(await client.post(f"{base(bridge)}/v1/transcribe", content=b"\0\0"))  # no key at all
        with pytest.raises(websockets.InvalidStatus) as ws_refused:
            async with websockets.connect(f"ws://127.0.0.1:{bridge.port}/v1/stream", additional_headers=wrong):
                pass
        allowed = await client.post(f"{base(bridge)}/v1/transcribe?api_key={WEB_KEY}", content=jfk_pcm())
    for response in refused:
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer"), response
        assert "API key" in response.text
    assert ws_refused.value.response.status_code == 401
    assert allowed.status_code == 200, allowed.text
    assert_jfk(allowed.json()["text"])


async def test_a_body_over_the_message_limit_gets_413(core_address):
    pcm = jfk_pcm()  # about 350 kB

    async def chunked():  # no Content-Length: the limit is found while reading
        for i in range(0, len(pcm), 16384):
            yield pcm[i:i + 16384]

    async with running_bridge(HTTP_SPEC, core_address, "--max-message-bytes", "100000") as bridge, \
            httpx.AsyncClient(timeout=60) as client:
        declared = await client.post(f"{base(bridge)}/v1/transcribe", content=pcm)
        streamed = await client.post(f"{base(bridge)}/v1/events", content=chunked())
        after = await client.post(f"{base(bridge)}/v1/transcribe", content=pcm[:96000])
    assert declared.status_code == 413 and "100000-byte limit" in declared.text, declared.text
    assert streamed.status_code == 413 and "100000-byte limit" in streamed.text, streamed.text
    assert after.status_code == 200, "one client's oversized body changes nothing for the next"


async def test_a_websocket_frame_over_the_limit_is_closed_with_1009(core_address):
    """As on the WebSocket transport: a frame over the dialect's limit reaches the codec (its
    ending names 1009), one over the server's backstop is refused by the server itself."""
    async with running_bridge(HTTP_SPEC, core_address, "--max-message-bytes", "10000") as bridge:
        codes = []
        for size in (20000, 200000):  # the backstop is 2 * 10000 + 64 KiB
            async with websockets.connect(f"ws://127.0.0.1:{bridge.port}/v1/stream", max_size=None) as ws:
                await ws.send(b"\0" * size)
                await recv_all(ws, 30)
            codes.append(ws.close_code)
    assert codes == [1009, 1009], codes


async def test_a_core_error_is_the_status_of_its_fault(core_address):
    """The core's INVALID_ARGUMENT for an unknown engine is the client's fault: 400, with the
    core's words in the dialect's error."""
    async with running_bridge(HTTP_SPEC, core_address, "--engine", "no-such-engine") as bridge, \
            httpx.AsyncClient(timeout=60) as client:
        exchange = await client.post(f"{base(bridge)}/v1/transcribe", content=jfk_pcm())
        events = await client.post(f"{base(bridge)}/v1/events", content=jfk_pcm())
    for response in (exchange, events):
        assert response.status_code == 400, response.text
    assert exchange.json()["type"] == "error" and "no-such-engine" in exchange.json()["error"]
    # an event stream that has not begun answers with the status and the transport's JSON error
    assert events.json()["error"]["type"] == "client_fault" and "no-such-engine" in events.json()["error"]["message"]


async def test_sigterm_lets_an_open_event_stream_finish_and_refuses_new_requests(core_address, tmp_path):
    async with dialect_process(tmp_path, "http", core_address) as bridge:
        async with httpx.AsyncClient(timeout=60) as client:
            async with client.stream("POST", f"{base(bridge)}/v1/events", content=jfk_pcm() * 2) as response:
                lines = response.aiter_lines()
                async for line in lines:
                    if line == "event: final":
                        break
                bridge.proc.send_signal(signal.SIGTERM)

                async def refused() -> bool:
                    try:
                        return (await client.post(f"{base(bridge)}/v1/transcribe", content=b"\0\0")).status_code == 503
                    except httpx.ConnectError:
                        return True
                await refused_soon(refused)
                rest = [line async for line in lines]
    # the process has exited 0 (dialect_process): its log is complete
    done = [json.loads(line[len("data: "):]) for previous, line in zip(rest, rest[1:]) if previous == "event: done"]
    assert done and done[0]["text"], rest
    assert "session_end" in bridge.log()


async def test_https_with_the_bridges_certificate(core_address, tmp_path):
    pki = make_pki(tmp_path)
    async with running_bridge(HTTP_SPEC, core_address, *tls_flags(pki)) as bridge, \
            httpx.AsyncClient(timeout=60, verify=ssl.create_default_context(cafile=str(pki.ca))) as client:
        response = await client.post(f"https://localhost:{bridge.port}/v1/transcribe", content=jfk_pcm())
    assert response.status_code == 200, response.text
    assert_jfk(response.json()["text"])


async def test_requests_over_the_connection_cap_get_503_with_retry_after(core_address):
    async with running_bridge(HTTP_SPEC, core_address, "--max-connections", "1") as bridge, \
            httpx.AsyncClient(timeout=60) as client:
        async with websockets.connect(f"ws://127.0.0.1:{bridge.port}/v1/stream"):  # holds the one place
            busy = await client.post(f"{base(bridge)}/v1/transcribe", content=b"\0\0")
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0, busy
        assert "limit of 1" in busy.text
