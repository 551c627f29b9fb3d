"""The rnnt bridge end to end: real speech, a real core, real sockets (shared/protocols/rnnt.md)."""
from __future__ import annotations

import asyncio
import json
import re
import time

import numpy as np
import pytest
import soxr
import websockets

from bridge_helpers import (BridgeProcess, assert_core_down_wording, assert_words_carry_their_punctuation, recv_json,
                            start_bridge)
from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, UTTERANCES, silence, speech, with_pauses, wer
from tests.conftest import free_port
from tests.real_speech import load

PATH = "/ws/transcribe"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SPEEDUP = 3.0  # the document's client paces at real time (blocking 100 ms reads)


@pytest.fixture(scope="module")
def rnnt_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    bridge = start_bridge(tmp_path_factory.mktemp("rnnt"), "rnnt", core_address)
    yield bridge
    bridge.stop()


def assert_error(msg: dict, needle: str = "") -> None:
    assert set(msg) == {"type", "error", "timestamp"}, msg
    assert msg["type"] == "error" and ISO.match(msg["timestamp"]) and isinstance(msg["error"], str)
    assert needle.lower() in msg["error"].lower(), msg


async def connect(bridge: BridgeProcess, query: str = "") -> tuple[websockets.ClientConnection, dict]:
    ws = await websockets.connect(bridge.url(PATH + query))
    hello = await recv_json(ws, 10)
    assert hello["type"] == "connection"
    return ws, hello


async def stream_like_the_doc(ws, audio: np.ndarray, chunk: int = 1600) -> list[dict]:
    """The document's Python asyncio client: PCM16 chunks of 1600 samples, a 10 ms peek after each."""
    received = []
    for i in range(0, len(audio), chunk):
        pcm16 = (audio[i:i + chunk] * 32767).astype(np.int16)
        await ws.send(pcm16.tobytes())
        await asyncio.sleep(chunk / SAMPLE_RATE / SPEEDUP)
        try:
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=0.01)))
        except asyncio.TimeoutError:
            pass
    return received


async def until_stopped(ws, received: list[dict], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = await recv_json(ws, deadline - time.monotonic())
        received.append(msg)
        if msg["type"] == "recording_stopped":
            return msg


def check_results(received: list[dict], reference: str, audio_seconds: float) -> dict:
    """Every documented field of partial / transcription / recording_stopped, and the words."""
    partials = [m for m in received if m["type"] == "partial"]
    finals = [m for m in received if m["type"] == "transcription"]
    [stopped] = [m for m in received if m["type"] == "recording_stopped"]
    assert not [m for m in received if m["type"] == "error"], received
    # Partials are best effort: at 3x real time on a busy machine the core rightly sheds them
    # (a newer partial or the final replaces them), so only their shape is checked here.
    assert finals
    for p in partials:
        assert p["is_final"] is False and isinstance(p["segment_id"], int) and p["segment_id"] >= 1
        assert p["text"] and isinstance(p["processing_time_ms"], int) and ISO.match(p["timestamp"])
    ids = [f["segment_id"] for f in finals]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    previous_end = 0.0
    for f in finals:
        assert f["is_final"] is True and f["text"] and ISO.match(f["timestamp"])
        assert isinstance(f["processing_time_ms"], int) and f["processing_time_ms"] >= 0
        assert 0 < f["duration"] <= audio_seconds + 0.5
        assert f["words"], f
        for w in f["words"]:
            assert set(w) >= {"word", "start", "end", "confidence"}
            assert previous_end - 0.05 <= w["start"] <= w["end"] <= audio_seconds + 0.5
            assert 0 <= w["confidence"] <= 1
            previous_end = w["start"]
        assert wer(f["text"], " ".join(w["word"] for w in f["words"])) <= 0.1
    assert stopped["total_segments"] == len(finals)
    assert abs(stopped["total_duration"] - audio_seconds) < 0.2
    assert ISO.match(stopped["timestamp"])
    assert wer(" ".join(f["text"] for f in finals), stopped["final_transcript"]) <= 0.05
    assert wer(reference, stopped["final_transcript"]) <= 0.15, stopped["final_transcript"]
    return stopped


async def test_conformance_like_the_documents_python_client(rnnt_bridge):
    audio = np.concatenate([silence(0.3), speech(PARAGRAPH), silence(1.0)])
    ws, hello = await connect(rnnt_bridge)
    assert hello["status"] == "connected" and hello["protocol_version"] == "1.0"
    assert re.match(r"^client_\d{10}_[a-z0-9]{6}$", hello["client_id"])
    assert hello["supported_audio_formats"] == {
        "sample_rates": [16000, 44100, 48000], "encodings": ["pcm16", "float32"], "channels": [1, 2]}
    async with ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        received = await stream_like_the_doc(ws, audio)
        await ws.send(json.dumps({"type": "stop_recording"}))
        await until_stopped(ws, received)
    [started] = [m for m in received if m["type"] == "recording_started"]
    assert ISO.match(started["timestamp"])
    assert started["config"]["sample_rate"] == 16000 and started["config"]["encoding"] == "pcm16"
    assert started["config"]["channels"] == 1 and started["config"]["language"] == "en"
    check_results(received, PARAGRAPH, len(audio) / SAMPLE_RATE)


async def test_transcription_words_are_words_with_their_punctuation(rnnt_bridge):
    """The document's words are words ("Hello", "world"): a mark such as "." or "?" belongs to
    the word it follows, never a word of its own with its own confidence."""
    audio = np.concatenate([load("jfk").audio, silence(1.0), speech(UTTERANCES[1]), silence(1.0)])
    ws, _ = await connect(rnnt_bridge)
    async with ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        received = await stream_like_the_doc(ws, audio)
        await ws.send(json.dumps({"type": "stop_recording"}))
        await until_stopped(ws, received)
    finals = [m for m in received if m["type"] == "transcription"]
    assert re.search(r"[.?!,]", " ".join(f["text"] for f in finals)), finals  # Whisper punctuates
    for final in finals:
        assert_words_carry_their_punctuation(final["text"], [w["word"] for w in final["words"]])


async def test_float32_48k_stereo_configure_and_ping(rnnt_bridge):
    mono, _ = with_pauses(UTTERANCES[:2], pause=1.2)
    audio = np.concatenate([mono, silence(0.8)])
    resampled = soxr.resample(audio, SAMPLE_RATE, 48000).astype("<f4")
    stereo = np.repeat(resampled, 2) * 0.9  # interleaved L/R
    ws, hello = await connect(rnnt_bridge, "?client_id=fmt-test")
    assert hello["client_id"] == "fmt-test"
    received: list[dict] = []
    async with ws:
        await ws.send(json.dumps({"type": "start_recording",
                                  "config": {"sample_rate": 48000, "encoding": "float32", "channels": 2}}))
        frames = 1024  # 1024 stereo float32 frames = 8192 bytes, the documented maximum chunk
        for n, i in enumerate(range(0, len(stereo), frames * 2)):
            await ws.send(stereo[i:i + frames * 2].tobytes())
            if n == 10:
                await ws.send(json.dumps({"type": "configure", "vad_threshold": 0.01, "silence_duration": 0.6}))
                await ws.send(json.dumps({"type": "ping"}))
            await asyncio.sleep(frames / 48000 / SPEEDUP)
        await ws.send(json.dumps({"type": "stop_recording"}))
        await until_stopped(ws, received)
    [started] = [m for m in received if m["type"] == "recording_started"]
    assert started["config"]["sample_rate"] == 48000 and started["config"]["encoding"] == "float32"
    assert started["config"]["channels"] == 2
    [configured] = [m for m in received if m["type"] == "configured"]
    assert configured["config"]["vad_threshold"] == 0.01
    assert configured["config"]["vad_probability_threshold"] == pytest.approx(0.5)
    assert configured["config"]["silence_duration"] == pytest.approx(0.6)
    assert [m for m in received if m["type"] == "pong"]
    check_results(received, " ".join(UTTERANCES[:2]), len(audio) / SAMPLE_RATE)


async def bad_client_errors(bridge: BridgeProcess) -> None:
    """Each bad input gets the documented error shape and leaves the connection usable."""
    ws, _ = await connect(bridge)
    async with ws:
        await ws.send("{not json")
        assert_error(await recv_json(ws, 10), "malformed json")
        await ws.send(json.dumps({"type": "start_recording", "config": {"sample_rate": "16000"}}))
        assert_error(await recv_json(ws, 10), "sample_rate")
        await ws.send(json.dumps({"type": "configure", "vad_threshold": "low"}))
        assert_error(await recv_json(ws, 10), "vad_threshold")
        await ws.send(json.dumps({"type": "start_recording", "config": {"language": "xx"}}))
        refused = await recv_json(ws, 10)  # the core's refusal, said once
        assert_error(refused, "config.language")
        assert refused["error"].count("unsupported language") == 1, refused
        await ws.send(np.zeros(1600, dtype=np.int16).tobytes())
        assert_error(await recv_json(ws, 10), "start_recording")
        await ws.send(json.dumps({"type": "transcribe_now"}))
        assert_error(await recv_json(ws, 10), "unknown message type")
        await ws.send(json.dumps(["type", "ping"]))
        assert_error(await recv_json(ws, 10), "json object")
        await ws.send(json.dumps({"type": "start_recording"}))
        assert (await recv_json(ws, 10))["type"] == "recording_started"
        await ws.send(b"\0" * 9000)
        assert_error(await recv_json(ws, 10), "8192")
        await ws.send(b"\0" * 3201)
        assert_error(await recv_json(ws, 10), "multiple of 2")
        await ws.send(json.dumps({"type": "start_recording"}))
        assert_error(await recv_json(ws, 10), "already recording")
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv_json(ws, 10))["type"] == "pong"


async def vanishing_client(bridge: BridgeProcess) -> None:
    ws, _ = await connect(bridge)
    await ws.send(json.dumps({"type": "start_recording"}))
    for i in range(0, SAMPLE_RATE, 1600):
        await ws.send((speech(UTTERANCES[2])[i:i + 1600] * 32767).astype(np.int16).tobytes())
    ws.transport.abort()  # no close frame, no stop_recording


async def test_bad_input_while_a_healthy_session_completes(rnnt_bridge):
    audio, _ = with_pauses(UTTERANCES, pause=1.2)
    audio = np.concatenate([audio, silence(0.8)])

    async def healthy() -> dict:
        ws, _ = await connect(rnnt_bridge)
        async with ws:
            await ws.send(json.dumps({"type": "start_recording"}))
            received = await stream_like_the_doc(ws, audio)
            await ws.send(json.dumps({"type": "stop_recording"}))
            await until_stopped(ws, received)
        return check_results(received, " ".join(UTTERANCES), len(audio) / SAMPLE_RATE)

    task = asyncio.create_task(healthy())
    await asyncio.sleep(0.5)
    await asyncio.gather(bad_client_errors(rnnt_bridge), vanishing_client(rnnt_bridge), vanishing_client(rnnt_bridge))
    await task
    # the bridge is still serving after the vanished clients
    ws, _ = await connect(rnnt_bridge)
    await ws.close()


async def receive_until_closed(ws, timeout: float = 30) -> list[dict]:
    received = []
    while True:
        try:
            received.append(await recv_json(ws, timeout))
        except websockets.ConnectionClosed:
            return received


async def test_documented_limits(core_address, tmp_path):
    bridge = start_bridge(tmp_path, "rnnt", core_address, "--max-connections", "2",
                          "--idle-timeout", "1.5", "--max-recording-seconds", "3")
    try:
        first, _ = await connect(bridge)
        second, _ = await connect(bridge)
        # server full: refused before the upgrade, HTTP 503 with Retry-After (docs/limits.md)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(bridge.url(PATH)):
                pass
        assert refused.value.response.status_code == 503 and refused.value.response.headers["Retry-After"]

        # The HTML example connects on page load: no recording, no idle rule (pings keep it).
        await asyncio.sleep(2.5)
        await first.send(json.dumps({"type": "ping"}))
        assert (await recv_json(first, 5))["type"] == "pong"

        # "Maximum session duration" (3 s here) counts from start_recording (second has been
        # open for seconds already). The client keeps streaming: the limit is said once, first,
        # then the recording is finished (recording_stopped with the transcript), then close 1008.
        await second.send(json.dumps({"type": "start_recording"}))
        assert (await recv_json(second, 10))["type"] == "recording_started"
        audio = np.concatenate([speech(UTTERANCES[0]), silence(2.0)])
        received = await stream_like_the_doc(second, audio)
        received += await receive_until_closed(second)
        errors = [m for m in received if m["type"] == "error"]
        assert len(errors) == 1, errors
        assert_error(errors[0], "maximum session duration")
        types = [m["type"] for m in received]
        assert types.index("error") < types.index("recording_stopped") == len(types) - 1, types
        assert wer(UTTERANCES[0], received[-1]["final_transcript"]) <= 0.15, received[-1]
        assert second.close_code == 1008
    finally:
        bridge.stop()


async def test_idle_during_a_recording_finishes_it_before_closing(core_address, tmp_path):
    """"Connection timeout: 30 seconds idle" (1.5 s here): JFK up to the middle of "ask not",
    then nothing. The words heard are not lost: the error first, then their transcription and
    recording_stopped with the final transcript, then close 1000."""
    bridge = start_bridge(tmp_path, "rnnt", core_address, "--idle-timeout", "1.5")
    jfk = load("jfk")
    try:
        ws, _ = await connect(bridge)
        await ws.send(json.dumps({"type": "start_recording"}))
        received = await stream_like_the_doc(ws, jfk.audio[:int(4.4 * SAMPLE_RATE)])
        received += await receive_until_closed(ws)
        assert ws.close_code == 1000
        types = [m["type"] for m in received]
        assert types.count("error") == 1 and types[-1] == "recording_stopped", types
        assert_error(received[types.index("error")], "idle")
        stopped = received[-1]
        assert "ask" in stopped["final_transcript"].lower(), stopped  # the last words, open when the client went quiet
        assert wer(stopped["final_transcript"], " ".join(m["text"] for m in received
                                                         if m["type"] == "transcription")) <= 0.05
    finally:
        bridge.stop()


async def test_recordings_back_to_back_on_one_connection(rnnt_bridge):
    """start_recording sent the moment recording_stopped arrives, three times, no delay."""
    audio = np.concatenate([speech(UTTERANCES[2]), silence(0.5)])
    ws, _ = await connect(rnnt_bridge)
    async with ws:
        for _ in range(3):
            await ws.send(json.dumps({"type": "start_recording"}))
            received = await stream_like_the_doc(ws, audio)
            await ws.send(json.dumps({"type": "stop_recording"}))
            stopped = await until_stopped(ws, received)
            assert [m["type"] for m in received].count("recording_started") == 1, received
            assert not [m for m in received if m["type"] == "error"], received
            assert wer(UTTERANCES[2], stopped["final_transcript"]) <= 0.2, stopped


async def test_core_down_answers_each_session_with_an_error(tmp_path):
    bridge_core = f"127.0.0.1:{free_port()}"
    bridge = start_bridge(tmp_path, "rnnt", bridge_core)
    try:
        for _ in range(2):
            ws, _ = await connect(bridge)
            async with ws:
                started = time.monotonic()
                await ws.send(json.dumps({"type": "start_recording"}))
                error = await recv_json(ws, 15)
                assert_error(error, "unavailable")
                assert_core_down_wording(error["error"].lower(), bridge_core)
                assert time.monotonic() - started < 15
                await ws.send(json.dumps({"type": "ping"}))
                assert (await recv_json(ws, 5))["type"] == "pong"
    finally:
        bridge.stop()
