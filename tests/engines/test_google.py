"""Google engine: the real google-cloud-speech client, through the real core, against a fake
Speech server on loopback (tests/engines/fake_google.py) whose results only describe the audio
it received, so the tests can prove that stream restarts lose and repeat nothing."""
from __future__ import annotations

import asyncio
import importlib.util

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, noise, speech, to_pcm16
from tests.conftest import start_core
from tests.core.grpc_helpers import audio_requests, config, recognize
from tests.engines.shape import seconds, speech_events

pytestmark = pytest.mark.skipif(importlib.util.find_spec("google.cloud.speech_v1") is None,
                                reason="google-cloud-speech not installed: pip install '.[google]'")

RESTART_SECONDS = 1.5
IDLE_SECONDS = 0.5
BYTES_PER_SECOND = SAMPLE_RATE * 2


@pytest.fixture(scope="module")
def fake():
    from tests.engines.fake_google import FakeSpeech

    server = FakeSpeech(final_every=1.0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def google_core(fake, tmp_path_factory):
    core = start_core(tmp_path_factory.mktemp("core-google"), env={
        "ASR_GOOGLE_ENDPOINT": fake.address, "ASR_GOOGLE_RESTART_SECONDS": str(RESTART_SECONDS),
        "ASR_GOOGLE_IDLE_SECONDS": str(IDLE_SECONDS)})
    yield core
    core.stop()


@pytest.fixture(autouse=True)
def fresh(fake):
    fake.reset()


def google_config(**kw) -> asr_pb2.RecognizeRequest:
    kw.setdefault("engine", "google")
    return config(encoding=asr_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hertz=16000, **kw)


def five_seconds() -> bytes:
    clip = np.concatenate([speech("Set a timer for ten minutes."), noise(5.0, level=0.02)])
    return to_pcm16(clip[:5 * SAMPLE_RATE])


async def test_restarts_lose_no_audio_and_keep_times_continuous(google_core, fake):
    pcm = five_seconds()
    call = await recognize(google_core.address, [google_config(
        language="de-DE", interim_results=True, enable_word_time_offsets=True, enable_automatic_punctuation=True,
    )] + audio_requests(pcm, chunk=BYTES_PER_SECOND // 2), pace=0.1)  # 16 KB messages: the engine splits them
    assert call.code == grpc.StatusCode.OK, call.message
    started = call.responses[0].session_started
    assert (started.engine, started.model) == ("google", "default")

    # what Google received: the config we mapped, small requests, the session audio in slices
    assert len(fake.streams) >= 3, "5 s of audio with 1.5 s restarts needs at least 3 Google streams"
    for s in fake.streams:
        c = s.config.config
        assert c.language_code == "de-DE" and c.sample_rate_hertz == 16000 and c.audio_channel_count == 1
        assert c.encoding == c.AudioEncoding.LINEAR16
        assert c.enable_automatic_punctuation and c.enable_word_time_offsets
        assert s.config.interim_results
        assert max(s.request_sizes) <= 25 * 1024
        # a stream ends once it has RESTART_SECONDS of audio (and half of it new), plus one message
        assert len(s.audio) / BYTES_PER_SECOND <= 2 * RESTART_SECONDS + 0.5 + 1e-9
    starts = [pcm.find(bytes(s.audio[:3200])) for s in fake.streams]
    assert starts[0] == 0
    for s, start, nxt in zip(fake.streams, starts, starts[1:] + [len(pcm)]):
        assert start >= 0 and pcm[start:start + len(s.audio)] == bytes(s.audio), "a stream got audio out of order"
        assert nxt <= start + len(s.audio), "audio between two Google streams was never sent"
    assert starts[-1] + len(fake.streams[-1].audio) == len(pcm)

    # what our client saw: finals covering every byte exactly once, on one continuous timeline
    finals = call.finals
    assert [f.segment_id for f in finals] == list(range(1, len(finals) + 1))
    covered = [int(f.text.split()[1]) for f in finals]
    assert sum(covered) == len(pcm), (covered, len(pcm))
    t = 0.0
    for f, n in zip(finals, covered):
        assert abs(seconds(f.start_offset) - t) < 1e-6
        assert abs(seconds(f.end_offset) - (t + n / BYTES_PER_SECOND)) < 1e-6
        (word,) = f.words  # the fake's one word spans the finalized audio, in its stream's time
        assert abs(seconds(word.start_offset) - t) < 1e-6
        assert abs(seconds(word.end_offset) - seconds(f.end_offset)) < 1e-6
        assert f.language == "de-DE" and f.stability == 1.0
        t = seconds(f.end_offset)
    assert abs(t - 5.0) < 1e-6
    open_id = 1
    for r in call.results:
        assert r.segment_id == open_id
        if r.is_final:
            open_id += 1
        else:
            assert r.text.startswith("heard ") and 0 < r.stability < 1
    assert any(not r.is_final for r in call.results)
    assert speech_events(call) == [("begin", 0.0)]  # reported once, not again by each new stream
    assert call.responses[-1].summary.segment_count == len(finals)


async def test_finalize_drains_the_google_stream_and_continues_in_a_new_one(google_core, fake):
    pcm = to_pcm16(speech("Please turn on the kitchen lights."))[:int(1.4 * BYTES_PER_SECOND)]
    half = len(pcm) // 2
    finalize = asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))
    call = await recognize(google_core.address, [google_config(vad=asr_pb2.VadConfig(enabled=False))]
                           + audio_requests(pcm[:half]) + [finalize] + audio_requests(pcm[half:]))
    assert call.code == grpc.StatusCode.OK, call.message
    assert [f.text for f in call.finals] == [f"bytes {half}", f"bytes {len(pcm) - half}"]
    assert abs(seconds(call.finals[0].end_offset) - 0.7) < 1e-6
    assert abs(seconds(call.finals[1].start_offset) - 0.7) < 1e-6
    assert abs(seconds(call.finals[1].end_offset) - 1.4) < 1e-6
    assert len(fake.streams) == 2 and all(s.half_closed for s in fake.streams)
    assert not fake.streams[0].config.enable_voice_activity_events
    assert not speech_events(call) and not any(not r.is_final for r in call.results)


async def test_a_pause_in_the_audio_half_closes_the_google_stream_in_time(google_core, fake):
    """Google fails a stream after ~10 s without audio; the engine drains it first and opens a
    new one when audio resumes, with times continuing where they were."""
    pcm = five_seconds()[:BYTES_PER_SECOND]
    half = len(pcm) // 2
    call = await recognize(google_core.address, [google_config()] + audio_requests(pcm[:half], chunk=half)
                           + audio_requests(pcm[half:], chunk=half), pace=3 * IDLE_SECONDS)
    assert call.code == grpc.StatusCode.OK, call.message
    first, second = fake.streams
    assert bytes(first.audio) == pcm[:half] and bytes(second.audio) == pcm[half:]
    assert first.half_closed and first.half_closed_at < second.first_audio_at
    assert [f.text for f in call.finals] == [f"bytes {half}", f"bytes {half}"]
    assert [(seconds(f.start_offset), seconds(f.end_offset)) for f in call.finals] == [(0.0, 0.5), (0.5, 1.0)]


@pytest.mark.parametrize("google_code, ours", [
    (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
    (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.PERMISSION_DENIED),
    (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE),
    (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
])
async def test_google_errors_map_to_our_status_codes(google_core, fake, google_code, ours):
    fake.fail_with = google_code
    call = await recognize(google_core.address, [google_config()] + audio_requests(five_seconds()[:16000]))
    assert call.code == ours, (call.code, call.message)
    assert "Google" in call.message and google_code.name in call.message


async def test_translate_and_unknown_model_are_invalid(google_core):
    call = await recognize(google_core.address, [google_config(task=asr_pb2.TASK_TRANSLATE)])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT and "translate" in call.message
    call = await recognize(google_core.address, [google_config(model="chirp-9000")])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT and "latest_long" in call.message


def test_describe_without_credentials_says_what_to_do(monkeypatch, tmp_path):
    from core_service.engines.google import GoogleEngine

    for var in ("ASR_GOOGLE_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default file
    desc = GoogleEngine().describe()
    assert not desc.available and "GOOGLE_APPLICATION_CREDENTIALS" in desc.unavailable_reason
    desc = GoogleEngine(credentials_file=str(tmp_path / "missing.json")).describe()
    assert not desc.available and "missing.json" in desc.unavailable_reason
    assert GoogleEngine(endpoint="127.0.0.1:1").describe().available


async def test_google_stt_bridge_streams_through_the_google_engine(google_core, fake, tmp_path):
    """The google-stt WebSocket dialect (shared/protocols/google-stt.md) in front of this engine,
    across a Google stream restart: the dialect's client sees every byte finalized once."""
    import json

    import websockets

    from tests.bridges.bridge_helpers import recv_json, start_bridge

    bridge = start_bridge(tmp_path, "google_stt", google_core.address, "--engine", "google")
    pcm = five_seconds()[:int(3.2 * BYTES_PER_SECOND)]
    messages = []
    try:
        async with websockets.connect(bridge.url("/ws/asr-stream")) as ws:
            await ws.send(json.dumps({"language_code": "ar-EG", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}))
            assert (await recv_json(ws, 10))["status"] == "ready"
            for i in range(0, len(pcm), 4096):
                await ws.send(pcm[i:i + 4096])
                await asyncio.sleep(0.01)
            await ws.send(json.dumps({"type": "end"}))
            while not messages or messages[-1]["type"] != "complete":
                messages.append(await recv_json(ws, 30))
                assert messages[-1]["type"] != "error", messages[-1]
    finally:
        bridge.stop()
    finals = [m for m in messages if m["type"] == "transcript" and m["is_final"]]
    assert sum(int(m["text"].split()[1]) for m in finals) == len(pcm), finals
    assert all(m["confidence"] == pytest.approx(0.9) for m in finals)
    assert len(fake.streams) >= 2 and all(s.config.config.language_code == "ar-EG" for s in fake.streams)
