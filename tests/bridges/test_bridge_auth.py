"""API keys and Origin at every bridge's WebSocket upgrade (bridges/auth.py), each dialect spoken
with its own client shape, in front of a core that needs keys too (so the key is forwarded)."""
from __future__ import annotations

import asyncio
import base64
import json
import signal
import uuid
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from bridge_helpers import recv_all, recv_json, start_bridge
from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16, wer
from tests.security_helpers import GOOGLE_ONLY, KEYS_TOML, LATER, SOLO, WEB, keyed_core, keys_file

__all__ = ["keyed_core", "keys_file"]  # fixtures

TEXT = UTTERANCES[0]


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return np.concatenate([silence(0.3), speech(TEXT), silence(0.8)])


# ---- each dialect's client, reduced to: connect (with headers), speak TEXT, return the finals ----
async def google_stt(url: str, headers: dict, audio: np.ndarray) -> str:
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}))
        assert (await recv_json(ws))["status"] == "ready"
        pcm = to_pcm16(audio)
        for i in range(0, len(pcm), 4096):
            await ws.send(pcm[i:i + 4096])
            await asyncio.sleep(0.01)
        await ws.send(json.dumps({"type": "end"}))
        messages = []
        while not messages or messages[-1]["type"] not in ("complete", "error"):
            messages.append(await recv_json(ws))
    assert messages[-1]["type"] == "complete", messages
    return " ".join(m["text"] for m in messages if m["type"] == "transcript" and m["is_final"])


async def nexa(url: str, headers: dict, audio: np.ndarray) -> str:
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
        pcm = to_pcm16(audio)
        for i in range(0, len(pcm), 16000):
            await ws.send(pcm[i:i + 16000])
            await asyncio.sleep(0.02)
        await ws.send(json.dumps({"action": "stop"}))
        messages = await recv_all(ws)
    assert not [m for m in messages if m["type"] == "error"], messages
    return " ".join(m["text"] for m in messages if m["type"] == "final")


async def funasr(url: str, headers: dict, audio: np.ndarray) -> str:
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        samples = audio.astype(np.float32)
        for i in range(0, len(samples), 1024):
            await ws.send(json.dumps({"type": "audio_chunk",
                                      "data": base64.b64encode(samples[i:i + 1024].tobytes()).decode()}))
            await asyncio.sleep(0.005)
        await ws.send(json.dumps({"type": "stop_recording"}))
        messages = []
        while not messages or (messages[-1].get("code") != "SESSION_STOPPED" and messages[-1]["type"] != "error"):
            messages.append(await recv_json(ws))
    assert messages[-1].get("code") == "SESSION_STOPPED", messages[-1]
    return " ".join(m["text"] for m in messages if m["type"] == "recognition_result" and m["is_final"])


async def rnnt(url: str, headers: dict, audio: np.ndarray) -> str:
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert (await recv_json(ws))["type"] == "connection"
        await ws.send(json.dumps({"type": "start_recording"}))
        pcm = to_pcm16(audio)
        for i in range(0, len(pcm), 3200):
            await ws.send(pcm[i:i + 3200])
            await asyncio.sleep(0.01)
        await ws.send(json.dumps({"type": "stop_recording"}))
        while (message := await recv_json(ws))["type"] != "recording_stopped":
            assert message["type"] != "error", message
    return message["final_transcript"]


async def whisperlive(url: str, headers: dict, audio: np.ndarray) -> str:
    uid = str(uuid.uuid4())
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        await ws.send(json.dumps({"uid": uid, "language": "en", "task": "transcribe", "model": "small",
                                  "use_vad": True}))
        while (message := await recv_json(ws)).get("message") != "SERVER_READY":
            assert message.get("status") == "WARNING", message
        samples = audio.astype("<f4")
        for i in range(0, len(samples), 4096):
            await ws.send(samples[i:i + 4096].tobytes())
            await asyncio.sleep(0.01)
        await ws.send(b"END_OF_AUDIO")
        segments: dict[str, str] = {}
        try:
            while True:
                message = await recv_json(ws, 30)
                assert message.get("status") != "ERROR", message
                for seg in message.get("segments", []):
                    if seg["completed"]:
                        segments[seg["start"]] = seg["text"].strip()
        except websockets.ConnectionClosed:
            pass
    return " ".join(segments[k] for k in sorted(segments, key=float))


Client = Callable[[str, dict, np.ndarray], Awaitable[str]]
DIALECTS: dict[str, tuple[str, Client]] = {
    "google_stt": ("/ws/asr-stream", google_stt),
    "nexa": ("/v1/audio/stream", nexa),
    "funasr": ("/ws/auth_test_client", funasr),
    "rnnt": ("/ws/transcribe", rnnt),
    "whisperlive": ("/", whisperlive),
}


@pytest.fixture(scope="module")
def keyed_bridges(keyed_core, keys_file, tmp_path_factory):
    directory = tmp_path_factory.mktemp("keyed-bridges")
    extra = {"funasr": ("--language", "en")}  # the test speech is English
    bridges = {name: start_bridge(directory, name, keyed_core.address, "--api-keys", str(keys_file),
                                  "--allowed-origins", "https://app.example", *extra.get(name, ()))
               for name in DIALECTS}
    yield bridges
    for bridge in bridges.values():
        bridge.stop()


async def refused_status(url: str, headers: dict | None = None) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, additional_headers=headers or {}):
            pass
    response = info.value.response
    return response.status_code, response.body.decode()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_upgrade_without_a_key_or_with_a_wrong_one_is_refused_with_401(keyed_bridges, dialect):
    bridge, (path, _) = keyed_bridges[dialect], DIALECTS[dialect]
    sessions = bridge.log().count("session_start")
    status, body = await refused_status(bridge.url(path))
    assert status == 401 and "no API key" in body and "Authorization: Bearer" in body
    status, body = await refused_status(bridge.url(path), {"Authorization": "Bearer wrong-secret-9999"})
    assert status == 401 and "unknown API key" in body
    status, _ = await refused_status(bridge.url(path + "?api_key=wrong-secret-9999"))
    assert status == 401
    assert bridge.log().count("session_start") == sessions, "a refused upgrade creates no session"
    assert "wrong-secret-9999" not in bridge.log()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_key_in_the_header_or_in_the_query_transcribes(keyed_bridges, dialect, audio):
    bridge, (path, client) = keyed_bridges[dialect], DIALECTS[dialect]
    in_header = await client(bridge.url(path), {"Authorization": f"Bearer {WEB}"}, audio)
    assert wer(TEXT, in_header) <= 0.2, in_header
    in_query = await client(bridge.url(path + f"?api_key={WEB}"), {"Origin": "https://app.example"}, audio)
    assert wer(TEXT, in_query) <= 0.2, in_query
    assert WEB not in bridge.log()


async def test_an_origin_not_listed_is_refused_with_403(keyed_bridges):
    bridge = keyed_bridges["nexa"]
    status, body = await refused_status(bridge.url("/v1/audio/stream"),
                                        {"Origin": "https://evil.example", "Authorization": f"Bearer {WEB}"})
    assert status == 403 and "https://evil.example" in body


async def test_the_cores_per_key_engines_and_max_sessions_apply_through_a_bridge(keyed_bridges, audio):
    bridge = keyed_bridges["nexa"]
    url = bridge.url("/v1/audio/stream")
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {GOOGLE_ONLY}"}) as ws:
        await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
        await ws.send(to_pcm16(audio[:16000]))
        messages = await recv_all(ws, 30)
    [error] = [m for m in messages if m["type"] == "error"]
    assert "engine" in error["error"].lower() and "google" in error["error"], error

    # "solo" may stream once at a time: a second connection with it, made once the first one's
    # results flow (an event, not a sleep: a busy machine may take seconds to start a session),
    # gets the dialect's busy error
    results_flow = asyncio.Event()

    async def first_session() -> str:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {SOLO}"}) as ws:
            await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
            pcm = to_pcm16(np.concatenate([audio, silence(2.0), audio]))
            messages = []
            for i in range(0, len(pcm), 16000):  # 0.5 s messages at real time
                await ws.send(pcm[i:i + 16000])
                try:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
                    results_flow.set()
                except asyncio.TimeoutError:
                    pass
            await ws.send(json.dumps({"action": "stop"}))
            messages += await recv_all(ws)
        assert not [m for m in messages if m["type"] == "error"], messages
        return " ".join(m["text"] for m in messages if m["type"] == "final")

    first = asyncio.create_task(first_session())
    await asyncio.wait_for(results_flow.wait(), 60)
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {SOLO}"}) as ws:
        await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
        await ws.send(to_pcm16(audio[:16000]))
        messages = await recv_all(ws, 30)
    [error] = [m for m in messages if m["type"] == "error"]
    assert "retry" in error["error"].lower() or "busy" in error["error"].lower(), error
    assert wer(f"{TEXT} {TEXT}", await first) <= 0.2


async def test_sighup_reload_adds_and_removes_a_key_while_another_keys_session_streams(
        keyed_core, keyed_bridges, keys_file, audio):
    bridge = keyed_bridges["rnnt"]
    url = bridge.url("/ws/transcribe")
    long_audio = np.concatenate([audio, silence(1.5), audio, silence(1.5), audio])

    async def paced_rnnt() -> str:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {WEB}"}) as ws:
            assert (await recv_json(ws))["type"] == "connection"
            await ws.send(json.dumps({"type": "start_recording"}))
            pcm = to_pcm16(long_audio)
            for i in range(0, len(pcm), 3200):
                await ws.send(pcm[i:i + 3200])
                await asyncio.sleep(0.05)  # real time
            await ws.send(json.dumps({"type": "stop_recording"}))
            while (message := await recv_json(ws))["type"] != "recording_stopped":
                assert message["type"] != "error", message
        return message["final_transcript"]

    streaming = asyncio.create_task(paced_rnnt())
    try:
        status, _ = await refused_status(url, {"Authorization": f"Bearer {LATER}"})
        assert status == 401
        await asyncio.sleep(1.0)
        keys_file.write_text(KEYS_TOML.replace('name = "solo"', 'name = "later"').replace(SOLO, LATER))
        for proc in (keyed_core.proc, bridge.proc):
            proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(1.0)
        assert not streaming.done(), "the streaming session must still be open across the reload"
        assert wer(TEXT, await rnnt(url, {"Authorization": f"Bearer {LATER}"}, audio)) <= 0.2
        status, _ = await refused_status(url, {"Authorization": f"Bearer {SOLO}"})
        assert status == 401
        assert wer(f"{TEXT} {TEXT} {TEXT}", await streaming) <= 0.2
    finally:
        keys_file.write_text(KEYS_TOML)
        for proc in (keyed_core.proc, bridge.proc):
            proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
