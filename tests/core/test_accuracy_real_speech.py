"""Streaming is as accurate as offline Whisper on real human speech (issue 11).

A recorded human voice (tests/fixtures/real/, see its README for source and licence), streamed
to a real core at real-time pace in 100 ms messages, must come out within 1 WER point of
faster-whisper transcribing the whole file offline with the same tiny.en weights. `bench.accuracy`
measures every recording, variant and model (README, "Accuracy on real speech"); this holds the
ones the core meets on every run measured: "go forward ten meters", clean and reverberant. The
noisy version is left out until streaming stops writing "10m" where offline writes "10 meters".
"""
from __future__ import annotations

import asyncio

import pytest

from tests.real_speech import load, offline_transcript, real_wer, streamed_transcript, variant

MAX_GAP = 0.01  # one WER point


@pytest.mark.parametrize("variant_name", ["clean", "reverb"])
def test_realtime_stream_within_one_point_of_offline_whisper(core_address, variant_name):
    recording = load("goforward")
    audio = variant(recording, variant_name)
    offline = offline_transcript(audio, "tiny.en")
    streamed = asyncio.run(streamed_transcript(core_address, audio, "tiny.en", realtime=True, timeout=60))
    offline_wer = real_wer(recording.transcript, offline)
    streamed_wer = real_wer(recording.transcript, streamed)
    assert streamed_wer - offline_wer <= MAX_GAP, (
        f"{recording.name}/{variant_name}: streaming WER {streamed_wer:.1%} vs offline {offline_wer:.1%}\n"
        f"  reference: {recording.transcript}\n  offline:   {offline}\n  streamed:  {streamed}")
