"""Admission control: its rule for given measurements on a clock the tests move
(core_service/admission.py), then a real core driven through an overload and back."""
from __future__ import annotations

import asyncio
import logging
import time

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2, asr_pb2_grpc
from google.rpc import error_details_pb2

from core_service.admission import Admission, AdmissionPolicy, Load
from core_service.errors import ApiError
from core_service.load_meter import FinalLoadMeter
from tests.audio_fixtures import silence, to_pcm16
from tests.conftest import start_core, wait_for_health
from tests.real_speech import load

from .grpc_helpers import Call, audio_requests, config, recognize_sync

log = logging.getLogger(__name__)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admission(share: float = 0.0, wait: float = 0.0, clock: Clock | None = None, **policy) -> Admission:
    return Admission(AdmissionPolicy(**policy), lambda: Load(share, wait), clock or Clock())


class Decoders:
    """Two decode workers' real-time final load, as the scheduler records it, on `clock`."""

    def __init__(self, clock: Clock, workers: int = 2):
        self.clock = clock
        self.workers = workers
        self.meter = FinalLoadMeter(workers, clock)

    def admission(self, **policy) -> Admission:
        return Admission(AdmissionPolicy(**policy), lambda: Load(self.meter.share(), self.meter.backlog_wait()),
                         self.clock)

    def run(self, seconds: float, share: float, backlog_wait: float = 0.0, step: float = 0.1) -> None:
        """`seconds` of finals taking `share` of the workers' time, each waiting `backlog_wait`
        behind others."""
        for _ in range(round(seconds / step)):
            self.clock.now += step
            self.meter.record(self.clock.now, share * self.workers * step, [backlog_wait])


def admit_until_refused(a: Admission, limit: int = 64) -> ApiError:
    for _ in range(limit):
        try:
            a.admit()
        except ApiError as err:
            return err
    raise AssertionError(f"{limit} real-time streams admitted")


def test_a_fresh_core_admits_what_the_assumed_stream_cost_allows_then_refuses_with_a_retry_time():
    a = admission(max_sessions=32)  # nothing measured yet: each stream is assumed to take 15%
    refused = admit_until_refused(a)
    assert a.realtime == 4  # 4 x 15% <= 70% < 5 x 15%
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED and refused.reason == "AT_CAPACITY"
    assert refused.retry_after >= 1.0 and "measured capacity (4 real-time streams" in refused.message


def test_streams_measured_cheap_are_admitted_beyond_the_assumption():
    clock = Clock()
    decoders = Decoders(clock)
    a = decoders.admission()
    for _ in range(4):
        a.admit()
    decoders.run(20.0, share=0.2)  # the four streams' finals take 20% of the decoders' time
    admit_until_refused(a)
    est = a.estimate()
    assert a.realtime > 4
    assert est.predicted_share(a.realtime) <= 0.7 < est.predicted_share(a.realtime + 1)
    assert est.stream_share == pytest.approx(0.2 / 4, rel=0.4)


def test_new_streams_count_at_the_measured_cost_before_their_finals_show():
    """Two streams' finals take 30% of the decoders; streams that arrive in a burst have no
    finals yet but will: each is counted at what one of the two takes, never diluting it."""
    clock = Clock()
    decoders = Decoders(clock)
    a = decoders.admission()
    a.admit(), a.admit()
    decoders.run(30.0, share=0.3)
    admit_until_refused(a)
    assert a.realtime == 4  # ~15% each: 4 x 15% <= 70% < 5 x 15%; dividing 30% by 4, 5, ... admitted 7


def test_silent_streams_cost_nothing_and_are_all_admitted_once_measured():
    clock = Clock()
    a = admission(0.0, clock=clock, max_sessions=12)
    for _ in range(4):
        a.admit()
    clock.now += 10.0
    for _ in range(8):
        a.admit()
    assert a.realtime == 12


def test_finals_waiting_behind_other_finals_refuse_new_streams():
    a = admission(0.0, wait=1.2, final_wait_budget=0.6)
    a.admit(), a.admit()  # min_streams are always admitted
    with pytest.raises(ApiError) as err:
        a.admit()
    assert err.value.reason == "AT_CAPACITY" and "1200 ms behind one another" in err.value.message


def test_an_overload_that_has_passed_is_forgotten_within_seconds():
    """Eight streams overload the decoders (finals use them fully and queue 3 s behind one
    another): new streams are refused. The load stops: a few seconds later four new streams
    are admitted again, as on an idle core."""
    clock = Clock()
    decoders = Decoders(clock)
    a = decoders.admission()
    overload = [a.admit() for _ in range(4)]
    decoders.run(10.0, share=0.0)  # quiet streams: their finals cost nothing yet
    overload += [a.admit() for _ in range(4)]
    decoders.run(20.0, share=1.0, backlog_wait=3.0)  # then all speak
    refused = a.refusal()
    assert refused is not None and refused.reason == "AT_CAPACITY" and "behind one another" in refused.message
    for ticket in overload:
        a.release(ticket)
    a.admit(), a.admit()  # the minimum, always
    clock.now += 1.0
    assert a.refusal() is not None  # finals queued behind others less than 5 s ago
    clock.now += 5.0
    a.admit(), a.admit()  # 2 of 4 no more: all four are admitted
    assert a.realtime == 4


def test_hard_session_cap():
    a = admission(0.0, max_sessions=1)
    a.admit()
    with pytest.raises(ApiError) as err:
        a.admit()
    assert err.value.reason == "TOO_MANY_SESSIONS"


def test_retry_estimate_follows_typical_stream_length():
    clock = Clock()
    a = admission(0.0, clock=clock, max_sessions=1)
    t = a.admit()
    clock.now += 30.0
    a.release(t)  # a typical stream lasts 30 s
    a.admit()
    clock.now += 12.0  # the open one is 12 s old: about 18 s left
    assert a.retry_estimate() == pytest.approx(18.0)


def test_uploads_do_not_count_against_realtime_capacity():
    a = admission(0.65)  # measured finals take 65%: no room beyond the minimum
    for _ in range(4):
        ticket, _ = a.admit_provisionally()
        a.classify(ticket, realtime=False)  # each measured as an upload
    a.admit(), a.admit()  # two real-time streams: the min_streams, whatever the uploads do
    assert a.realtime == 2 and a.active == 6
    with pytest.raises(ApiError):
        a.admit()  # the third real-time stream is measured against real-time load only


def test_an_upload_still_counts_against_the_hard_session_cap():
    a = admission(0.0, max_sessions=2)
    for _ in range(2):
        a.classify(a.admit(), realtime=False)
    with pytest.raises(ApiError) as err:
        a.admit()
    assert err.value.reason == "TOO_MANY_SESSIONS"


def test_at_realtime_capacity_a_stream_starts_provisionally_as_an_upload():
    clock = Clock()
    share = [0.65]
    a = Admission(AdmissionPolicy(max_sessions=32), lambda: Load(share[0], 0.0), clock)
    a.admit(), a.admit()
    ticket, refusal = a.admit_provisionally()
    assert refusal is not None and refusal.reason == "AT_CAPACITY"
    assert a.active == 3 and a.realtime == 2  # counted as an upload until promoted
    assert a.promote(ticket) is not None  # still full: the caller ends the stream with this
    share[0] = 0.1
    clock.now += 30.0
    assert a.promote(ticket) is None and a.realtime == 3


def test_with_room_a_stream_is_admitted_as_realtime_at_once():
    a = admission(0.1, max_sessions=8)
    ticket, refusal = a.admit_provisionally()
    assert refusal is None and a.realtime == 1


# ---- a real core through an overload and back ------------------------------------------------

OVERLOAD_STREAMS = 8  # lockstep real speech with firm full-window finals: ~4 workers' worth on 2
CHUNK_SECONDS = 0.1
SILENT_CHUNK = to_pcm16(silence(CHUNK_SECONDS))


@pytest.fixture
def overloadable_core(tmp_path):
    """The default admission budgets (conftest turns them off for other tests), finals always in
    the full window (firm: ~1 s each here, so 8 streams overload 2 workers) and a 1 s probation."""
    core = start_core(tmp_path, "--final-share-budget", "0.7", "--final-wait-budget", "0.6", "--final-window", "full",
                      "--probation-seconds", "1", "--no-route-languages", "--max-sessions", "32")
    yield core
    core.stop()


async def quiet_then_speaking(onset: asyncio.Event, speech: list[bytes]):
    """A real-time stream: silence until `onset`, then `speech`, then open until cancelled."""
    yield config(interim_results=True)
    while not onset.is_set():
        yield asr_pb2.RecognizeRequest(audio=SILENT_CHUNK)
        await asyncio.sleep(CHUNK_SECONDS)
    for chunk in speech:
        yield asr_pb2.RecognizeRequest(audio=chunk)
        await asyncio.sleep(CHUNK_SECONDS)
    await asyncio.sleep(3600)


async def drain(call, started: asyncio.Event) -> grpc.StatusCode:
    try:
        async for response in call:
            if response.WhichOneof("response") == "session_started":
                started.set()
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def realtime_probe(address: str, audio: np.ndarray) -> Call:
    """A new stream sending `audio` at real-time pace (grpc's sync client: it reports a status
    sent while it is still writing)."""
    return recognize_sync(address, [config(), *audio_requests(to_pcm16(audio))], pace=CHUNK_SECONDS, timeout=60)


async def until_refused(address: str, deadline: float) -> Call:
    """New real-time streams (silence: nothing to decode before the refusal) until one is refused."""
    while time.monotonic() < deadline:
        probe = await asyncio.to_thread(realtime_probe, address, silence(3.0))
        if probe.code != grpc.StatusCode.OK:
            return probe
        await asyncio.sleep(1.0)
    raise AssertionError("no new real-time stream was refused during the overload")


async def until_admitted(address: str, streams: int, deadline: float) -> list[Call]:
    """`streams` new real-time streams of real speech at once, again until all are served."""
    speech = np.concatenate([load("goforward").audio, silence(1.5)])
    while time.monotonic() < deadline:
        probes = await asyncio.gather(*(asyncio.to_thread(realtime_probe, address, speech) for _ in range(streams)))
        if all(p.code == grpc.StatusCode.OK for p in probes):
            return probes
        await asyncio.sleep(1.0)
    raise AssertionError(f"{streams} new real-time streams were not all admitted again after the overload")


async def test_a_core_refuses_streams_in_an_overload_and_admits_them_again_seconds_after_it(overloadable_core):
    """Eight real-time streams are admitted while quiet (each when the core's health says it
    has room), then all speak the same sonnet at once: more than two workers can decode. New
    real-time streams are refused with a retry time. The load stops: within seconds four new
    real-time streams (after an overload the old admission took 2 of 4) are all served."""
    address = overloadable_core.address
    sonnet = [c.audio for c in audio_requests(to_pcm16(load("sonnet_1").audio))]
    onset = asyncio.Event()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        calls, readers = [], []
        for _ in range(OVERLOAD_STREAMS):
            await asyncio.to_thread(wait_for_health, address, 60.0)  # SERVING: admission has room
            started = asyncio.Event()
            calls.append(stub.Recognize(quiet_then_speaking(onset, sonnet)))
            readers.append(asyncio.ensure_future(drain(calls[-1], started)))
            await asyncio.wait_for(started.wait(), 30)
        onset.set()
        refused = await until_refused(address, time.monotonic() + 90)
        ended = [r.result() for r in readers if r.done()]
        assert not ended, f"admitted real-time streams ended in the overload: {ended}\n{overloadable_core.log()[-3000:]}"
        for call in calls:
            call.cancel()
        stopped = time.monotonic()
        await asyncio.gather(*readers, return_exceptions=True)
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.message
    assert refused.detail(error_details_pb2.ErrorInfo).reason == "AT_CAPACITY"
    assert refused.detail(error_details_pb2.RetryInfo).retry_delay.seconds >= 1
    assert "measured capacity" in refused.message

    probes = await until_admitted(address, 4, stopped + 60)
    recovered = time.monotonic() - stopped
    assert all("forward" in p.transcript.lower() for p in probes), [p.transcript for p in probes]
    log.info("refused: %s; 4 of 4 admitted again %.1f s after the load stopped", refused.message, recovered)
    await asyncio.to_thread(wait_for_health, address, 30.0)  # and health says SERVING again
