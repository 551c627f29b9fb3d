"""Google engine, what it maps: our session config to Google's (language, hotwords, models,
translate), Google's results and errors back to ours, and the google-stt dialect in front of it;
the real google-cloud-speech client, through the real core, against the fake Speech server
(google_helpers.py), and once against Google itself when asked to (ASR_GOOGLE_REAL_TEST)."""
from __future__ import annotations

import asyncio
import os

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, noise, speech, to_pcm16, with_pauses
from tests.conftest import start_core
from tests.core.grpc_helpers import audio_requests, recognize
from tests.engines.engine_helpers import needs, read_until
from tests.engines.google_helpers import (BYTES_PER_SECOND, ENDPOINT_SECONDS, UTTERANCES, five_seconds,
                                          google_config)

pytestmark = [needs("google.cloud.speech_v1", "google"), pytest.mark.usefixtures("fresh")]


def test_language_codes_come_back_in_bcp47_case():
    from core_service.engines.google_mapping import language_tag

    assert language_tag("en-us", "en-US") == "en-US"
    assert language_tag("zh-hant-tw", "en-US") == "zh-Hant-TW"
    assert language_tag("", "de-DE") == "de-DE"


@pytest.mark.parametrize("google_code, ours", [
    (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
    (grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.OUT_OF_RANGE),
    (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.PERMISSION_DENIED),
    (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE),
    (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
])
@pytest.mark.parametrize("reported_as", ["call status", "response.error"])
async def test_google_errors_map_to_our_status_codes(google_core, fake, google_code, ours, reported_as):
    """Google fails the call, or answers a response whose `error` field is set: either way the
    session ends with our status and Google's message."""
    if reported_as == "call status":
        fake.fail_with = google_code
    else:
        fake.error_response = google_code
    # one audio message: the client is done writing before the error comes (grpc/grpc#36066)
    call = await recognize(google_core.address, [google_config()] + audio_requests(five_seconds()[:16000], chunk=16000))
    assert call.code == ours, (call.code, call.message)
    assert "Google" in call.message and google_code.name in call.message and "scripted" in call.message


async def test_translate_and_unknown_model_are_invalid(google_core):
    call = await recognize(google_core.address, [google_config(task=asr_pb2.TASK_TRANSLATE)])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT and "translate" in call.message
    call = await recognize(google_core.address, [google_config(model="chirp-9000")])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT and "latest_long" in call.message



async def test_google_stt_bridge_streams_through_the_google_engine(google_core, fake, tmp_path):
    """The google-stt WebSocket dialect (shared/protocols/google-stt.md) in front of this engine,
    across a Google stream restart: the dialect's client sees every byte finalized once."""
    import json

    import websockets

    from tests.bridges.bridge_helpers import recv_json, start_bridge

    bridge = start_bridge(tmp_path, "google_stt", google_core.address, "--engine", "google")
    pcm = to_pcm16(np.concatenate([speech(UTTERANCES[1]), noise(7.0, level=0.02)])[:int(7 * SAMPLE_RATE)])
    messages = []
    try:
        async with websockets.connect(bridge.url("/ws/asr-stream")) as ws:
            await ws.send(json.dumps({"language_code": "ar-EG", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}))
            assert (await recv_json(ws, 10))["status"] == "ready"
            for i in range(0, len(pcm), 4096):
                await ws.send(pcm[i:i + 4096])
                await asyncio.sleep(0.01)
            await ws.send(json.dumps({"type": "end"}))
            await read_until(ws, messages, lambda m: m["type"] == "complete")
    finally:
        bridge.stop()
    from tests.engines.fake_google import speech_regions

    finals = [m for m in messages if m["type"] == "transcript" and m["is_final"]]
    assert len(finals) == len(speech_regions(pcm, ENDPOINT_SECONDS)) and all(
        m["text"].startswith("speech ") for m in finals), finals
    assert all(m["confidence"] == pytest.approx(0.9) for m in finals)
    assert len(fake.streams) >= 2 and all(s.config.config.language_code == "ar-EG" for s in fake.streams)


REAL = os.environ.get("ASR_GOOGLE_REAL_TEST", "")


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="set ASR_GOOGLE_REAL_TEST=1 where Google Application Default Credentials "
                                     "are available (and the network) to run against Speech-to-Text itself")
async def test_real_google_transcribes_english(tmp_path):
    from tests.audio_fixtures import PARAGRAPH, wer

    audio = speech(PARAGRAPH)
    core = start_core(tmp_path, env={"ASR_GOOGLE_ENDPOINT": ""})
    try:
        call = await recognize(core.address, [google_config(language="en-US", interim_results=True)]
                               + audio_requests(to_pcm16(audio)), pace=0.1)  # real time: 100 ms chunks
    finally:
        core.stop()
    assert call.code == grpc.StatusCode.OK, call.message
    assert wer(PARAGRAPH, call.transcript) < 0.3, call.transcript
    assert all(f.language == "en-US" for f in call.finals)


async def test_hotwords_become_speech_adaptation_phrases(google_core, fake):
    audio, _ = with_pauses(UTTERANCES[:1], pause=1.0)
    call = await recognize(google_core.address, [google_config(language="en-US", hotwords=["Siobhan Quigley", "kubectl"])]
                           + audio_requests(to_pcm16(audio), chunk=BYTES_PER_SECOND // 2), pace=0.05)
    assert call.code == grpc.StatusCode.OK, call.message
    [context] = fake.streams[-1].config.config.speech_contexts
    assert list(context.phrases) == ["Siobhan Quigley", "kubectl"]
