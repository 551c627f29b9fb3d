"""Limits that protect the core from clients: config timeout, slots only after config, flow control."""
from __future__ import annotations

import asyncio
import re
import time

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2_grpc

from tests.audio_fixtures import SAMPLE_RATE, UTTERANCES, silence, speech, to_pcm16, wer
from tests.conftest import start_core

from .grpc_helpers import Call, audio_requests, config, held_open
from .test_errors import assert_still_serving

CONFIG_TIMEOUT = 3.0
MAX_BACKLOG = 0.5
STREAM_WINDOW_BYTES = 65536


@pytest.fixture(scope="module")
def limits_core(tmp_path_factory):
    core = start_core(tmp_path_factory.mktemp("limits"), "--max-sessions", "2",
                      "--config-timeout", str(CONFIG_TIMEOUT), "--max-backlog-seconds", str(MAX_BACKLOG),
                      "--decode-workers", "1",
                      "--stream-window-bytes", str(STREAM_WINDOW_BYTES))
    yield core
    core.stop()


async def test_streams_that_never_send_a_config_hold_no_session_slot(limits_core):
    """40 streams that never send a config do not stop a real stream from being served (max 2 sessions)."""
    async with grpc.aio.insecure_channel(limits_core.address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        calls = [stub.Recognize(held_open(asyncio.Event())) for _ in range(40)]
        await asyncio.gather(*(c.wait_for_connection() for c in calls))
        await assert_still_serving(limits_core.address)
        for c in calls:
            c.cancel()


async def test_a_config_must_arrive_within_config_timeout(limits_core):
    async with grpc.aio.insecure_channel(limits_core.address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        hold = asyncio.Event()
        started = time.monotonic()
        call = stub.Recognize(held_open(hold), timeout=60)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        elapsed = time.monotonic() - started
        hold.set()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "config" in err.value.details()
    assert elapsed >= CONFIG_TIMEOUT - 0.5


async def test_a_fast_sender_is_held_to_the_backlog_bound_by_flow_control(limits_core):
    """Speech sent as fast as possible: the core stops reading while the stream has more than
    --max-backlog-seconds of undecoded audio, and HTTP/2 flow control stops the sender after one
    --stream-window-bytes window. So however fast it sends, the client is never further ahead of
    its latest final than those two bounds plus the utterance being decoded; nothing is lost."""
    clips = [speech(t) for t in UTTERANCES] * 3  # ~25 s
    audio = np.concatenate([np.concatenate([c, silence(0.8)]) for c in clips])
    requests = [config(session_id="fast-sender", beam_size=5), *audio_requests(to_pcm16(audio))]
    sent_seconds, ahead = 0.0, []

    async def send():
        nonlocal sent_seconds
        for req in requests:
            yield req
            sent_seconds += len(req.audio) / (2 * SAMPLE_RATE)

    call = Call()
    async with grpc.aio.insecure_channel(limits_core.address) as channel:
        async for response in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(send(), timeout=120):
            call.responses.append(response)
            if response.WhichOneof("response") == "result" and response.result.is_final:
                end = response.result.end_offset
                ahead.append(sent_seconds - (end.seconds + end.nanos / 1e9))
    assert wer(" ".join(UTTERANCES * 3), call.transcript) <= 0.2  # nothing lost ("10" for "ten" costs 0.16)
    longest = max(len(c) for c in clips) / SAMPLE_RATE
    window = STREAM_WINDOW_BYTES / (2 * SAMPLE_RATE)
    # unbounded, the sender would be nearly all of the audio (~23 s) ahead
    assert max(ahead) <= window + MAX_BACKLOG + 2 * longest + 1.0, (max(ahead), len(audio) / SAMPLE_RATE)
    line = next(ln for ln in limits_core.log().splitlines() if "session 'fast-sender' ended" in ln)
    throttled = re.search(r"upload, peak backlog [\d.]+ s, throttled ([\d.]+) s", line)
    assert throttled and float(throttled.group(1)) > 0, line  # measured as an upload, and held back
