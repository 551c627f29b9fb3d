"""Real-time or upload, from the arrival rate over a sliding window of wall time."""
from __future__ import annotations

from core_service.pacing import ArrivalPacing, PacingPolicy
from tests.support import FakeClock


def feed(pacing: ArrivalPacing, clock: FakeClock, seconds: float, speed: float, chunk: float = 0.1,
         start: float = 0.0) -> float:
    """Send `seconds` of audio in `chunk`-second messages at `speed` times real time."""
    audio = start
    while audio < start + seconds - 1e-9:
        clock.now += chunk / speed
        audio += chunk
        pacing.record(audio)
    return audio


def test_audio_at_the_speed_of_speech_is_real_time():
    clock = FakeClock(100.0)
    pacing = ArrivalPacing(PacingPolicy(), clock)
    feed(pacing, clock, 60.0, speed=1.0)
    assert pacing.realtime


def test_a_pre_buffer_sent_at_once_is_still_real_time():
    clock = FakeClock(100.0)
    pacing = ArrivalPacing(PacingPolicy(burst_seconds=2.0), clock)
    pacing.record(1.5)  # a client flushes 1.5 s it buffered while connecting
    assert pacing.realtime
    feed(pacing, clock, 20.0, speed=1.0, start=1.5)
    assert pacing.realtime


def test_audio_sent_faster_than_the_factor_is_an_upload_within_a_second():
    clock = FakeClock(100.0)
    pacing = ArrivalPacing(PacingPolicy(realtime_factor=1.5), clock)
    feed(pacing, clock, 3.0, speed=30.0)  # 0.1 s of wall time
    assert not pacing.realtime


def test_an_upload_that_slows_to_real_time_is_real_time_again_after_a_window():
    clock = FakeClock(100.0)
    pacing = ArrivalPacing(PacingPolicy(window_seconds=10.0), clock)
    audio = feed(pacing, clock, 60.0, speed=30.0)
    assert not pacing.realtime
    audio = feed(pacing, clock, 5.0, speed=1.0, start=audio)
    assert not pacing.realtime  # the window still holds upload pace
    feed(pacing, clock, 11.0, speed=1.0, start=audio)
    assert pacing.realtime


def test_a_stream_held_back_by_flow_control_counts_as_an_upload_for_a_window():
    clock = FakeClock(100.0)
    pacing = ArrivalPacing(PacingPolicy(window_seconds=10.0), clock)
    audio = feed(pacing, clock, 5.0, speed=1.0)
    pacing.throttled()
    audio = feed(pacing, clock, 5.0, speed=1.0, start=audio)
    assert not pacing.realtime
    feed(pacing, clock, 6.0, speed=1.0, start=audio)
    assert pacing.realtime
