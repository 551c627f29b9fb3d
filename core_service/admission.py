"""Admission control: admit the real-time streams the decoders can serve at the latency goal.

The rule, for one more real-time stream beside the `n` open ones:

1. `max_sessions` streams of any class are open: refuse (TOO_MANY_SESSIONS).
2. `n` < `min_streams`: admit.
3. Real-time finals wait behind other real-time finals longer than `final_wait_budget` (p95 of
   those decoded in the last 5 s, or a final queued now): refuse (AT_CAPACITY). Finals then
   outnumber the workers; another stream would make every final later.
4. The finals of `n + 1` streams would take more than `final_share_budget` of the decoders' time:
   refuse (AT_CAPACITY). What one stream's finals take is measured, as the decoders' recent share
   of time on real-time finals (at firm cost: core_service/load_meter.py) divided by the recent
   average number of real-time streams whose finals had time to show in it (open for
   `settle_seconds`), both decaying by half every 5 s; to that measurement an assumption
   (`unmeasured_stream_share`) is added with the weight of `prior_weight` streams, so that it
   alone decides before anything was measured (a fresh core admits 4 real-time streams, then
   as many as the measurement allows) and counts for little once streams have run.
5. Otherwise admit.

Both directions within seconds: a stream counts at once in `n` when admitted and stops counting
when it ends; its cost shows in the measurement one utterance later; an overload that has
passed fades from the measurement with the 5 s half-life, and rule 3 lets go once no final has
queued behind another for 5 s. The retry time sent with a refusal is when the first open stream
is expected to end (`retry_estimate`).

Partials do not count: they expand to fill idle time and back off first under load. Uploads
(streams measured faster than real time) do not count either: neither their number nor their
decodes, which run on capacity real-time streams leave over; so uploads never make the core
refuse a stream.

A new stream's class is not known before its audio arrives. When real-time capacity is full,
the servicer admits it provisionally as an upload (`admit_provisionally`): an upload simply goes
slower. If after `--probation-seconds` it turns out to send at real-time pace, `promote` counts
it as real-time if there is room by then, or ends it with the same RESOURCE_EXHAUSTED a
real-time stream gets (after the results of the audio it sent).
"""
from __future__ import annotations

import collections
import itertools
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import grpc

from .engines.base import Load
from .errors import ApiError
from .load_meter import MEAN_LIFE_SECONDS, Clock, decay

# ErrorInfo reasons of a refusal: clients see them, and health tells the two apart (server.py).
TOO_MANY_SESSIONS = "TOO_MANY_SESSIONS"  # the hard cap, --max-sessions
AT_CAPACITY = "AT_CAPACITY"  # the measured real-time capacity


@dataclass(frozen=True)
class AdmissionPolicy:
    max_sessions: int = 32
    final_share_budget: float = 0.7
    final_wait_budget: float = 0.6  # seconds real-time finals may wait behind other finals (p95, last 5 s)
    min_streams: int = 2  # always admitted while under max_sessions
    default_retry: float = 10.0
    # What a real-time stream is assumed to take of the decoders' time before it is measured:
    # 0.15 lets a fresh core admit 4 (4 x 0.15 <= 0.7). Measured on the 2-core machine, one
    # stream of real speech took 0.045 with trimmed windows and 0.15-0.28 with full windows.
    unmeasured_stream_share: float = 0.15
    prior_weight: float = 0.5  # streams' worth of measurement the assumption weighs as
    settle_seconds: float = 3.0  # a new stream's first final is about this far away


@dataclass(frozen=True)
class Estimate:
    """What admission believes now (for refusal messages, logs and tests)."""

    realtime: int  # real-time streams open
    measured_streams: float  # recent average number of real-time streams old enough to be measured
    stream_share: float  # decoder time one real-time stream's finals take
    load: Load

    def predicted_share(self, streams: int) -> float:
        return self.stream_share * streams


class RealtimeExposure:
    """The recent average number of real-time streams open for at least `settle` seconds: their
    stream-seconds summed with the decay of the load measurements (core_service/load_meter.py),
    so that it can be set against them."""

    def __init__(self, settle: float, clock: Clock):
        self.settle = settle
        self._clock = clock
        self._since: dict[int, float] = {}  # real-time ticket -> when it became real-time
        self._value = 0.0
        self._at = clock()

    def start(self, ticket: int) -> None:
        self._advance()
        self._since.setdefault(ticket, self._at)

    def stop(self, ticket: int) -> None:
        self._advance()
        self._since.pop(ticket, None)

    def average(self) -> float:
        self._advance()
        return self._value / MEAN_LIFE_SECONDS

    def _advance(self) -> None:
        now = self._clock()
        if now <= self._at:
            return
        value = self._value * decay(now - self._at)
        for since in self._since.values():
            settled = max(self._at, since + self.settle)
            if settled < now:  # the integral of the decay over [settled, now]
                value += MEAN_LIFE_SECONDS * (1.0 - decay(now - settled))
        self._value, self._at = value, now


class Admission:
    def __init__(self, policy: AdmissionPolicy, load: Callable[[], Load], clock: Clock = time.monotonic):
        self.policy = policy
        self._load = load
        self._clock = clock
        self._ids = itertools.count()
        self._active: dict[int, float] = {}
        self._uploads: set[int] = set()
        self._exposure = RealtimeExposure(policy.settle_seconds, clock)
        self._durations: collections.deque[float] = collections.deque(maxlen=200)

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def realtime(self) -> int:
        return len(self._active) - len(self._uploads)

    def classify(self, ticket: int, realtime: bool) -> None:
        """The stream's measured class (core_service/pacing.py); streams start as real-time."""
        if ticket in self._active:
            self._set_class(ticket, realtime)

    def _set_class(self, ticket: int, realtime: bool) -> None:
        if realtime and ticket in self._uploads:
            self._uploads.discard(ticket)
            self._exposure.start(ticket)
        elif not realtime and ticket not in self._uploads:
            self._uploads.add(ticket)
            self._exposure.stop(ticket)

    def admit(self) -> int:
        """A ticket for a new real-time stream, or ApiError(RESOURCE_EXHAUSTED) to send back."""
        self._check_session_cap()
        refusal = self._realtime_refusal()
        if refusal is not None:
            raise refusal
        return self._add(realtime=True)

    def admit_provisionally(self) -> tuple[int, ApiError | None]:
        """For a stream whose class is not known yet: a ticket, and the refusal a real-time stream
        would get now (None when there is room). With a refusal the ticket counts as an upload:
        the stream starts as one and must `promote` before it may run as real-time. Only the hard
        session cap refuses here (ApiError raised), so an upload can always start."""
        self._check_session_cap()
        refusal = self._realtime_refusal()
        return self._add(realtime=refusal is None), refusal

    def promote(self, ticket: int) -> ApiError | None:
        """A provisional stream was measured as real-time: count it so when there is room now
        (None), else return the refusal to end it with."""
        refusal = self._realtime_refusal()
        if refusal is None and ticket in self._active:
            self._set_class(ticket, True)
        return refusal

    def estimate(self) -> Estimate:
        load = self._load()
        measured = self._exposure.average()
        p = self.policy
        share = (load.final_share + p.unmeasured_stream_share * p.prior_weight) / (measured + p.prior_weight)
        return Estimate(self.realtime, measured, share, load)

    def _check_session_cap(self) -> None:
        if len(self._active) >= self.policy.max_sessions:
            raise self._refuse(f"server is at its limit of {self.policy.max_sessions} concurrent streams",
                               TOO_MANY_SESSIONS)

    def _realtime_refusal(self) -> ApiError | None:
        """The refusal for one more real-time stream, or None when there is room."""
        n, p = self.realtime, self.policy
        if n < p.min_streams:
            return None
        est = self.estimate()
        if est.load.final_wait > p.final_wait_budget:
            why = (f"their finals wait {est.load.final_wait * 1000:.0f} ms behind one another, over the "
                   f"{p.final_wait_budget * 1000:.0f} ms budget")
        elif est.predicted_share(n + 1) > p.final_share_budget:
            why = (f"the finals of one take about {est.stream_share:.0%} of decode time, so one more would make "
                   f"{est.predicted_share(n + 1):.0%}, over the {p.final_share_budget:.0%} budget")
        else:
            return None
        return self._refuse(f"server is at its measured capacity ({n} real-time streams; {why}); one more "
                            f"real-time stream would slow everyone down", AT_CAPACITY)

    def _add(self, realtime: bool) -> int:
        ticket = next(self._ids)
        self._active[ticket] = self._clock()
        if realtime:
            self._exposure.start(ticket)
        else:
            self._uploads.add(ticket)
        return ticket

    def refusal(self) -> ApiError | None:
        """The refusal one more real-time stream would get now (reason TOO_MANY_SESSIONS or
        AT_CAPACITY), else None; takes no ticket. The server reads it to report NOT_SERVING while
        the core is full (core_service/health_state.py)."""
        try:
            self._check_session_cap()
        except ApiError as cap:
            return cap
        return self._realtime_refusal()

    def release(self, ticket: int) -> None:
        self._uploads.discard(ticket)
        self._exposure.stop(ticket)
        started = self._active.pop(ticket, None)
        if started is not None:
            self._durations.append(self._clock() - started)

    def retry_estimate(self) -> float:
        """When the first stream is expected to end: typical stream length minus the oldest one's age."""
        if not self._durations or not self._active:
            return self.policy.default_retry
        typical = statistics.median(self._durations)
        now = self._clock()
        soonest = min(max(typical - (now - started), 0.0) for started in self._active.values())
        return round(min(max(soonest, 1.0), 600.0), 1)

    def _refuse(self, message: str, reason: str) -> ApiError:
        retry = self.retry_estimate()
        return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{message}; retry in about {retry:.0f} s",
                        reason=reason, retry_after=retry,
                        metadata={"active_streams": str(len(self._active)),
                                  "max_sessions": str(self.policy.max_sessions)})
