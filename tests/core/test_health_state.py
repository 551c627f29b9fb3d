"""core_service/health_state.py: the states balancers see, with an injected clock (no sockets)."""
from __future__ import annotations

import asyncio

from core_service.health_state import HealthPolicy, HealthReporter, HealthState, ServingState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ready_state(clock: Clock) -> HealthState:
    state = HealthState(HealthPolicy(recover_after_seconds=3.0), clock)
    state.ready()
    return state


def test_not_serving_while_starting_even_if_admission_has_room():
    state = HealthState(clock=Clock())
    assert state.observe(False) is ServingState.STARTING and not state.serving
    assert state.ready() is ServingState.SERVING and state.serving


def test_full_as_soon_as_admission_would_refuse():
    state = ready_state(Clock())
    assert state.observe(True) is ServingState.FULL and not state.serving


def test_full_ends_only_after_admission_accepted_for_the_whole_recovery_time():
    clock = Clock()
    state = ready_state(clock)
    state.observe(True)
    for step in (0.0, 1.0, 2.0, 2.9):
        clock.now = 100.0 + step
        assert state.observe(False) is ServingState.FULL
    clock.now = 103.0
    assert state.observe(False) is ServingState.SERVING


def test_a_refusal_during_recovery_restarts_the_recovery_time():
    clock = Clock()
    state = ready_state(clock)
    state.observe(True)
    state.observe(False)
    clock.now += 2.5
    state.observe(True)  # a stream ended, another took its place: still at the limit
    clock.now += 0.1
    state.observe(False)
    clock.now += 2.95
    assert state.observe(False) is ServingState.FULL
    clock.now += 0.1
    assert state.observe(False) is ServingState.SERVING


def test_draining_is_final():
    clock = Clock()
    state = ready_state(clock)
    assert state.draining() is ServingState.DRAINING
    clock.now += 60
    assert state.observe(False) is ServingState.DRAINING and not state.serving


async def test_reporter_publishes_only_changes_and_marks_refusals_at_once():
    published: list[bool] = []
    refusing = [False]

    async def publish(serving: bool) -> None:
        published.append(serving)

    clock = Clock()
    reporter = HealthReporter(publish, lambda: refusing[0],
                              HealthState(HealthPolicy(check_interval_seconds=0.01, recover_after_seconds=1.0), clock))
    await reporter.ready()
    await asyncio.sleep(0.05)
    assert published == [True]
    refusing[0] = True
    reporter.refused()
    await asyncio.sleep(0.02)
    assert published == [True, False]
    clock.now += 5
    await asyncio.sleep(0.05)
    assert published == [True, False]
    refusing[0] = False  # room again: the recovery time starts at the next reading
    await asyncio.sleep(0.05)
    assert published == [True, False]
    clock.now += 1.0
    await asyncio.sleep(0.05)
    assert published == [True, False, True]
    await reporter.draining()
    assert published == [True, False, True, False]
