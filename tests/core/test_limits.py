"""Limits that protect the core from clients: config timeout, slots only after config, flow control."""
from __future__ import annotations

import asyncio
import re
import time

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2_grpc

from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16, wer
from tests.conftest import start_core

from .grpc_helpers import audio_requests, config, recognize
from .test_errors import assert_still_serving

CONFIG_TIMEOUT = 3.0
MAX_BACKLOG = 0.5


@pytest.fixture(scope="module")
def limits_core(tmp_path_factory):
    core = start_core(tmp_path_factory.mktemp("limits"), "--max-sessions", "2",
                      "--config-timeout", str(CONFIG_TIMEOUT), "--max-backlog-seconds", str(MAX_BACKLOG),
                      "--decode-workers", "1")
    yield core
    core.stop()


async def test_streams_that_never_send_a_config_hold_no_session_slot(limits_core):
    """40 streams that never send a config do not stop a real stream from being served (max 2 sessions)."""
    async with grpc.aio.insecure_channel(limits_core.address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        hold = asyncio.Event()

        async def silent():
            await hold.wait()
            return
            yield  # pragma: no cover - an async generator that never yields

        calls = [stub.Recognize(silent()) for _ in range(40)]
        await asyncio.gather(*(c.wait_for_connection() for c in calls))
        await assert_still_serving(limits_core.address)
        for c in calls:
            c.cancel()


async def test_a_config_must_arrive_within_config_timeout(limits_core):
    async with grpc.aio.insecure_channel(limits_core.address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        hold = asyncio.Event()

        async def silent():
            await hold.wait()
            return
            yield  # pragma: no cover

        started = time.monotonic()
        call = stub.Recognize(silent(), timeout=60)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        elapsed = time.monotonic() - started
        hold.set()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "config" in err.value.details()
    assert elapsed >= CONFIG_TIMEOUT - 0.5


async def test_a_fast_sender_is_held_to_the_backlog_bound_by_flow_control(limits_core):
    """Speech sent as fast as possible: the core stops reading while the stream has more than
    --max-backlog-seconds of undecoded audio, so what it holds stays bounded; nothing is lost."""
    clips = [speech(t) for t in UTTERANCES] * 4
    audio = np.concatenate([np.concatenate([c, silence(0.8)]) for c in clips])
    call = await recognize(limits_core.address,
                           [config(session_id="fast-sender", beam_size=5), *audio_requests(to_pcm16(audio))])
    assert call.code == grpc.StatusCode.OK, call.message
    assert len(call.finals) == len(clips)
    assert wer(" ".join(UTTERANCES * 4), call.transcript) <= 0.15
    line = next(ln for ln in limits_core.log().splitlines() if "session 'fast-sender' ended" in ln)
    found = re.search(r"(real-time|upload), peak backlog ([\d.]+) s, throttled ([\d.]+) s", line)
    kind, peak, throttled = found.group(1), float(found.group(2)), float(found.group(3))
    assert kind == "upload"
    assert throttled > 0  # the core held the sender back
    # the check before each read admits at most one more utterance (and its speculative decode)
    longest = max(len(c) for c in clips) / 16000
    assert peak <= MAX_BACKLOG + 2 * longest, line
