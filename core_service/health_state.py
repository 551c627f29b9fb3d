"""What the core tells balancers through grpc.health.v1, for "" and asr.v1.RecognizerService.

States (the table is `SERVING_STATES`); the service "liveness" stays SERVING throughout:

- STARTING: listening, engine still loading: NOT_SERVING.
- SERVING: ready, and admission would take one more real-time stream.
- FULL: admission would refuse a real-time stream (session cap or measured capacity): NOT_SERVING,
  so gRPC clients (round_robin + healthCheckConfig), HAProxy and Kubernetes readiness route new
  streams to other cores instead of handing clients RESOURCE_EXHAUSTED. Streams already open go on.
- DRAINING: SIGTERM received; open streams finish within the grace: NOT_SERVING until exit.

Hysteresis: FULL is entered as soon as admission would refuse (or did refuse) a stream, and left
only after admission would have admitted continuously for `recover_after_seconds`, so a core
hovering at its limit does not flap between SERVING and NOT_SERVING with every stream that ends.

`HealthState` is the sans-I/O decision (a clock in, a state out); `HealthReporter` polls the
admission probe and publishes changes to the health servicer. The drain code calls
`HealthReporter.draining()`, the admission code may call `HealthReporter.refused()`.
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

    def observe(self, would_refuse: bool) -> ServingState:
        """Feed one reading of "would admission refuse a real-time stream now?"."""
        if self.state in (ServingState.STARTING, ServingState.DRAINING):
            return self.state
        now = self._clock()
        if would_refuse:
            self.state = ServingState.FULL
            self._accepting_since = None
        elif self.state is ServingState.FULL:
            if self._accepting_since is None:
                self._accepting_since = now
            elif now - self._accepting_since >= self.policy.recover_after_seconds:
                self.state = ServingState.SERVING
                self._accepting_since = None
        return self.state


Publish = Callable[[bool], Awaitable[None]]


class HealthReporter:
    """Drives a HealthState from an admission probe and publishes every change."""

    def __init__(self, publish: Publish, would_refuse: Callable[[], bool], state: HealthState | None = None) -> None:
        self._publish = publish
        self._would_refuse = would_refuse
        self.state = state or HealthState()
        self._published: bool | None = None
        self._task: asyncio.Task | None = None
        self._pending: asyncio.Task | None = None

    async def ready(self) -> None:
        """The engine is loaded: start serving and watching admission."""
        self.state.ready()
        await self._sync()
        self._task = asyncio.create_task(self._watch(), name="health-watch")

    def refused(self) -> None:
        """Admission just refused a real-time stream: stop attracting new ones now (sync, for the servicer)."""
        self.state.observe(True)
        if self.state.serving != self._published and self._task is not None:
            self._pending = asyncio.get_running_loop().create_task(self._sync())

    async def draining(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.state.draining()
        await self._sync()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.state.policy.check_interval_seconds)
            self.state.observe(self._would_refuse())
            await self._sync()

    async def _sync(self) -> None:
        serving = self.state.serving
        if serving != self._published:
            log.info("health: %s (%s)", "SERVING" if serving else "NOT_SERVING", self.state.state.value)
            self._published = serving
            await self._publish(serving)
