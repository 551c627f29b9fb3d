"""What the core tells balancers through grpc.health.v1, for "" and asr.v1.RecognizerService.

States (the table is `SERVING_STATES`); the service "liveness" stays SERVING throughout:

- STARTING: listening, engine still loading: NOT_SERVING.
- SERVING: ready, and admission would take one more real-time stream.
- FULL: admission would refuse a real-time stream (session cap or measured capacity): NOT_SERVING,
  so gRPC clients (round_robin + healthCheckConfig), HAProxy and Kubernetes readiness route new
  streams to other cores instead of handing clients RESOURCE_EXHAUSTED. Streams already open go on.
- DRAINING: SIGTERM received; open streams finish within the grace: NOT_SERVING until exit.

FULL is entered as soon as admission would refuse (or did refuse) a stream. How it is left depends
on why admission refused:
- the session cap (`--max-sessions`): an exact count, so FULL ends as soon as a stream ends;
- measured capacity (finals' share of decode time or their queue wait): a noisy measurement, so
  FULL ends only after admission would have admitted continuously for `recover_after_seconds`
  (hysteresis: a core hovering at its capacity does not flap between SERVING and NOT_SERVING).

`HealthState` is the sans-I/O decision (a clock in, a state out); `HealthReporter` reads the
admission probe every `check_interval_seconds` and whenever the servicer calls
`admission_changed()` (a stream admitted or refused, a stream's end), and publishes changes to the health servicer.
The drain code calls `HealthReporter.draining()`.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


# SERVING from the moment the server listens until it stops: for liveness probes, which must not
# restart a core that is merely full, starting or draining.
LIVENESS_SERVICE = "liveness"


class ServingState(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    FULL = "full"
    DRAINING = "draining"


SERVING_STATES = frozenset({ServingState.SERVING})


class Refusal(enum.Enum):
    """Would admission refuse a real-time stream now, and why."""

    NONE = "none"
    SESSION_CAP = "session_cap"  # exact: no hysteresis needed
    MEASURED_LOAD = "measured_load"  # noisy: recover only after recover_after_seconds


@dataclass(frozen=True)
class HealthPolicy:
    check_interval_seconds: float = 0.5  # how often the admission probe is read
    recover_after_seconds: float = 3.0  # admission must keep accepting this long before FULL -> SERVING


class HealthState:
    """The state machine; every method takes the current time from the injected clock."""

    def __init__(self, policy: HealthPolicy = HealthPolicy(), clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self.state = ServingState.STARTING
        self._accepting_since: float | None = None
        self._noisy = False  # the last refusal came from a measurement

    @property
    def serving(self) -> bool:
        return self.state in SERVING_STATES

    def ready(self) -> ServingState:
        if self.state is ServingState.STARTING:
            self.state = ServingState.SERVING
        return self.state

    def draining(self) -> ServingState:
        self.state = ServingState.DRAINING
        return self.state

    def observe(self, refusal: Refusal) -> ServingState:
        """Feed one reading of "would admission refuse a real-time stream now?"."""
        if self.state in (ServingState.STARTING, ServingState.DRAINING):
            return self.state
        now = self._clock()
        if refusal is not Refusal.NONE:
            self.state = ServingState.FULL
            self._accepting_since = None
            self._noisy = self._noisy or refusal is Refusal.MEASURED_LOAD
        elif self.state is ServingState.FULL:
            if self._accepting_since is None:
                self._accepting_since = now
            if not self._noisy or now - self._accepting_since >= self.policy.recover_after_seconds:
                self.state = ServingState.SERVING
                self._accepting_since = None
                self._noisy = False
        return self.state


Publish = Callable[[bool], Awaitable[None]]


class HealthReporter:
    """Drives a HealthState from an admission probe and publishes every change."""

    def __init__(self, publish: Publish, probe: Callable[[], Refusal], state: HealthState | None = None) -> None:
        self._publish = publish
        self._probe = probe
        self.state = state or HealthState()
        self._published: bool | None = None
        self._task: asyncio.Task | None = None
        self._pending: asyncio.Task | None = None
        self._lock = asyncio.Lock()  # one publication at a time, always of the latest state

    async def ready(self) -> None:
        """The engine is loaded: start serving and watching admission."""
        self.state.ready()
        await self._sync()
        self._task = asyncio.create_task(self._watch(), name="health-watch")

    def admission_changed(self) -> None:
        """A stream was admitted, refused or ended: read admission now (sync, for the servicer)."""
        if self._task is None:
            return
        self.state.observe(self._probe())
        if self.state.serving != self._published:
            self._pending = asyncio.get_running_loop().create_task(self._sync())

    async def draining(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.state.draining()
        await self._sync()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.state.policy.check_interval_seconds)
            self.state.observe(self._probe())
            await self._sync()

    async def _sync(self) -> None:
        async with self._lock:
            serving = self.state.serving
            if serving != self._published:
                log.info("health: %s (%s)", "SERVING" if serving else "NOT_SERVING", self.state.state.value)
                self._published = serving
                await self._publish(serving)
