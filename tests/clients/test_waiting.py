"""clients/waiting.py: which errors are waited for, how long, and never past the deadline."""
from __future__ import annotations

import grpc
import pytest

from clients.errors import RecognizerError
from clients.targets import ALL_CORES_BUSY_MESSAGE, ALL_CORES_BUSY_RETRY_SECONDS
from clients.waiting import NO_WAIT, WaitPolicy, Waiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def busy(retry_after: float | None = 3.0, reason: str = "TOO_MANY_SESSIONS") -> RecognizerError:
    return RecognizerError(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", retry_after=retry_after, reason=reason)


def no_healthy_core() -> RecognizerError:
    return RecognizerError(grpc.StatusCode.RESOURCE_EXHAUSTED, ALL_CORES_BUSY_MESSAGE,
                           retry_after=ALL_CORES_BUSY_RETRY_SECONDS, reason="NO_HEALTHY_CORE")


def test_no_wait_gives_up_on_the_first_busy_error():
    assert Waiter(NO_WAIT).delay(busy()) is None


def test_an_error_without_retry_information_is_never_waited_for():
    assert Waiter(WaitPolicy(max_seconds=60)).delay(busy(retry_after=None)) is None


def test_the_servers_retry_delay_is_honoured_until_the_deadline():
    clock = Clock()
    waiter = Waiter(WaitPolicy(max_seconds=10), clock=clock)
    assert waiter.delay(busy(3.0)) == 3.0
    clock.now += 3.0
    assert waiter.delay(busy(3.0)) == 3.0
    clock.now += 3.0
    assert waiter.delay(busy(3.0)) == 3.0
    clock.now += 3.0
    assert waiter.delay(busy(3.0)) is None  # 1 s left: the next attempt would start after the deadline


def test_no_healthy_core_is_polled_rather_than_waited_out():
    clock = Clock()
    told: list[tuple[float, float]] = []
    waiter = Waiter(WaitPolicy(max_seconds=5, poll_seconds=0.5, on_wait=lambda e, d, left: told.append((d, left))),
                    clock=clock)
    assert waiter.delay(no_healthy_core()) == 0.5
    assert told == [(0.5, 4.5)]


def test_a_negative_budget_is_refused():
    with pytest.raises(ValueError):
        WaitPolicy(max_seconds=-1)
