"""The WebSocket transport (bridges/transports/websocket.py) through the real runtime and a real
core, driven by the transcribe test dialect (transcribe_dialect.py, `WS_SPEC`) with JFK's speech:
the same checks as every other transport's test (a transcript, auth refusal, a limit, a core
error in this transport's shape, drain on SIGTERM)."""
from __future__ import annotations

import json
import signal

import pytest
import websockets

from bridge_helpers import recv_all
from transcribe_dialect import WS_SPEC
from transport_helpers import WEB as WEB_KEY, WRONG_KEY, assert_jfk, dialect_process, jfk_pcm, keys_path, \
    refused_soon, running_bridge


def url(port: int, query: str = "") -> str:
    return f"ws://127.0.0.1:{port}/v1/stream{query}"


async def stream_jfk(ws: websockets.ClientConnection, end: bool = True, frame_bytes: int = 32000) -> None:
    pcm = jfk_pcm()
    for i in range(0, len(pcm), frame_bytes):
        await ws.send(pcm[i:i + frame_bytes])
    if end:
        await ws.send(json.dumps({"type": "end"}))


async def test_audio_frames_then_end_are_answered_with_finals_and_the_transcript(core_address):
    async with running_bridge(WS_SPEC, core_address) as bridge:
        async with websockets.connect(url(bridge.port)) as ws:
            await stream_jfk(ws)
            messages = await recv_all(ws)
        assert ws.close_code == 1000
    assert messages[-1]["type"] == "done" and all(m["type"] == "final" for m in messages[:-1]), messages
    assert_jfk(messages[-1]["text"])


async def test_a_wrong_api_key_is_refused_with_401_before_the_upgrade(core_address, tmp_path):
    async with running_bridge(WS_SPEC, core_address, "--api-keys", str(keys_path(tmp_path))) as bridge:
        refusals = []
        for headers in ({"Authorization": f"Bearer {WRONG_KEY}"}, {}):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url(bridge.port), additional_headers=headers):
                    pass
            refusals.append(refused.value.response)
        async with websockets.connect(url(bridge.port, f"?api_key={WEB_KEY}")) as ws:
            await stream_jfk(ws)
            messages = await recv_all(ws)
    assert [r.status_code for r in refusals] == [401, 401]
    assert all(r.headers["WWW-Authenticate"].startswith("Bearer") for r in refusals)
    assert_jfk(messages[-1]["text"])


async def test_a_frame_over_the_message_limit_is_closed_with_1009(core_address):
    async with running_bridge(WS_SPEC, core_address, "--max-message-bytes", "10000") as bridge:
        codes = []
        for size in (20000, 200000):  # the dialect's limit reaches the codec; the backstop is 2 * 10000 + 64 KiB
            async with websockets.connect(url(bridge.port), max_size=None) as ws:
                await ws.send(b"\0" * size)
                await recv_all(ws, 30)
            codes.append(ws.close_code)
        async with websockets.connect(url(bridge.port)) as ws:  # the next client is served as before
            await stream_jfk(ws, frame_bytes=8000)
            messages = await recv_all(ws)
    assert codes == [1009, 1009], codes
    assert_jfk(messages[-1]["text"])


async def test_a_core_error_is_the_dialects_error_then_the_close_code_of_its_fault(core_address):
    """The core's INVALID_ARGUMENT for an unknown engine is the client's fault: 1008."""
    async with running_bridge(WS_SPEC, core_address, "--engine", "no-such-engine") as bridge:
        async with websockets.connect(url(bridge.port)) as ws:
            await stream_jfk(ws)
            messages = await recv_all(ws)
    assert ws.close_code == 1008, ws.close_code
    assert messages[-1]["type"] == "error" and "no-such-engine" in messages[-1]["error"], messages


async def test_sigterm_finishes_the_open_session_and_refuses_new_connections(core_address, tmp_path):
    async with dialect_process(tmp_path, "websocket", core_address) as bridge:
        async with websockets.connect(url(bridge.port)) as ws:
            await stream_jfk(ws, end=False)
            bridge.proc.send_signal(signal.SIGTERM)

            async def refused() -> bool:
                try:
                    async with websockets.connect(url(bridge.port), open_timeout=5):
                        return False
                except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake):
                    return True
            await refused_soon(refused)
            messages = await recv_all(ws)
    # the process has exited 0 (dialect_process): its log is complete
    assert ws.close_code in (1000, 1001), ws.close_code
    assert messages and messages[-1]["type"] == "done", messages
    assert_jfk(messages[-1]["text"])
    assert "session_end" in bridge.log()
