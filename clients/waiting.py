"""Waiting for a server that is starting or busy, as gRPC's wait-for-ready does, within a deadline.

A core listens before its models are loaded and says NOT_SERVING until they are; a channel
with client-side health checking (clients/targets.py) then fails calls at once with "no healthy
core", which the SDK reads as busy, retry in 5 s (`errors.from_rpc_error`, reason
NO_HEALTHY_CORE). A core at capacity answers RESOURCE_EXHAUSTED with RetryInfo itself.

`Waiter` decides, after each failed attempt, whether and how long to wait before the next:
only for an error that carries a retry delay (RetryInfo, or the client's own NO_HEALTHY_CORE),
never beyond `WaitPolicy.max_seconds` after the first attempt. The server's own RetryInfo
delay is honoured as given; the client's NO_HEALTHY_CORE is re-tried every `poll_seconds`
(the channel's health watch turns the core SERVING as soon as it is ready, and a refused
attempt costs no round trip).

Waiting is opt-in at the lower layer (`RecognizerClient.stream`, `list_engines`) and on by
default only in the high-level helpers (`transcribe_file`, the blocking `Recognizer`) and the
CLI; the bridges never wait: they answer their own clients with the 'retry in N s' error.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import RecognizerError

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT = 60.0
NO_HEALTHY_CORE = "NO_HEALTHY_CORE"  # errors.from_rpc_error's reason for "every core NOT_SERVING"

# Told before each wait: the error that caused it, the seconds about to be waited, the seconds
# of the whole budget left after that.
OnWait = Callable[[RecognizerError, float, float], None]


@dataclass(frozen=True)
class WaitPolicy:
    """How long a call may wait for a starting or busy server; `max_seconds` 0 fails fast."""

    max_seconds: float = DEFAULT_MAX_WAIT
    poll_seconds: float = 1.0  # between attempts while no core is healthy (the client's own retry hint)
    on_wait: OnWait | None = None

    def __post_init__(self) -> None:
        if self.max_seconds < 0 or self.poll_seconds <= 0:
            raise ValueError("max_seconds must be >= 0 and poll_seconds > 0")


NO_WAIT = WaitPolicy(max_seconds=0.0)
DEFAULT_WAIT = WaitPolicy()


class Waiter:
    """The retry budget of one logical call, started at its first attempt."""

    def __init__(self, policy: WaitPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._deadline = clock() + policy.max_seconds

    def delay(self, error: RecognizerError) -> float | None:
        """Seconds to wait before trying again after `error`, or None to give up and raise it."""
        if error.retry_after is None:
            return None
        delay = self.policy.poll_seconds if error.reason == NO_HEALTHY_CORE else error.retry_after
        left = self._deadline - self._clock()
        if delay > left:  # the next attempt would start after the deadline
            return None
        if self.policy.on_wait is not None:
            self.policy.on_wait(error, delay, left - delay)
        else:
            log.info("server busy or starting (%s); retrying in %.1f s, %.0f s left to wait", error.message, delay,
                     left - delay)
        return delay
