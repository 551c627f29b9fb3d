"""core_service/health_state.py: the states balancers see, with an injected clock (no sockets)."""
from __future__ import annotations

import asyncio

from core_service.health_state import HealthPolicy, HealthReporter, HealthState, Refusal, ServingState
from tests.support import FakeClock

CAP, LOAD, NONE = Refusal.SESSION_CAP, Refusal.MEASURED_LOAD, Refusal.NONE


def ready_state(clock: FakeClock) -> HealthState:
    state = HealthState(HealthPolicy(recover_after_seconds=3.0), clock)
    state.ready()
    return state


def test_not_serving_while_starting_even_if_admission_has_room():
    state = HealthState(clock=FakeClock(100.0))
    assert state.observe(NONE) is ServingState.STARTING and not state.serving
    assert state.ready() is ServingState.SERVING and state.serving


def test_full_as_soon_as_admission_would_refuse_for_either_reason():
    for refusal in (CAP, LOAD):
        state = ready_state(FakeClock(100.0))
        assert state.observe(refusal) is ServingState.FULL and not state.serving


def test_full_at_the_session_cap_ends_as_soon_as_a_stream_ends():
    state = ready_state(FakeClock(100.0))
    state.observe(CAP)
    assert state.observe(NONE) is ServingState.SERVING


def test_full_from_measured_load_ends_only_after_room_for_the_whole_recovery_time():
    clock = FakeClock(100.0)
    state = ready_state(clock)
    state.observe(LOAD)
    for step in (0.0, 1.0, 2.0, 2.9):
        clock.now = 100.0 + step
        assert state.observe(NONE) is ServingState.FULL
    clock.now = 103.0
    assert state.observe(NONE) is ServingState.SERVING


def test_a_refusal_during_recovery_restarts_the_recovery_time():
    clock = FakeClock(100.0)
    state = ready_state(clock)
    state.observe(LOAD)
    state.observe(NONE)
    clock.now += 2.5
    state.observe(CAP)  # a stream ended, another took its place: still at the limit
    clock.now += 0.1
    state.observe(NONE)
    clock.now += 2.95
    assert state.observe(NONE) is ServingState.FULL, "the load refusal still needs its recovery time"
    clock.now += 0.1
    assert state.observe(NONE) is ServingState.SERVING


def test_draining_is_final():
    clock = FakeClock(100.0)
    state = ready_state(clock)
    assert state.draining() is ServingState.DRAINING
    clock.now += 60
    assert state.observe(NONE) is ServingState.DRAINING and not state.serving


async def test_reporter_publishes_only_changes_and_reads_admission_when_told():
    published: list[bool] = []
    refusal = [NONE]

    async def publish(serving: bool) -> None:
        published.append(serving)

    clock = FakeClock(100.0)
    policy = HealthPolicy(check_interval_seconds=3600, recover_after_seconds=1.0)  # no polling in this test
    reporter = HealthReporter(publish, lambda: refusal[0], HealthState(policy, clock))
    await reporter.ready()
    assert published == [True]
    refusal[0] = LOAD
    reporter.admission_changed()  # a refusal
    await asyncio.sleep(0.01)
    assert published == [True, False]
    refusal[0] = NONE
    reporter.admission_changed()  # a stream ended: the recovery time starts
    await asyncio.sleep(0.01)
    assert published == [True, False]
    clock.now += 1.0
    reporter.admission_changed()
    await asyncio.sleep(0.01)
    assert published == [True, False, True]
    await reporter.draining()
    assert published == [True, False, True, False]
