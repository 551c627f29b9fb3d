"""Admission control from measured real-time capacity.

A new stream is refused with RESOURCE_EXHAUSTED (and a retry estimate) when the hard session
cap is reached, or when the local decoders show they cannot take one more real-time stream
without real-time finals slowing down: the share of decode time spent on real-time finals,
scaled to one more real-time stream, would pass `final_share_budget`, or real-time finals already
wait longer than `final_wait_budget` in the queue. Partials do not count: they expand to fill
idle time and back off first under load. Uploads (streams measured faster than real time) do not
count either: neither their number nor their decodes, which run on capacity real-time streams
leave over; so uploads never make the core refuse a stream.

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


@dataclass(frozen=True)
class AdmissionPolicy:
    max_sessions: int = 32
    final_share_budget: float = 0.7
    final_wait_budget: float = 0.6  # seconds (p95 over the last 10 s)
    min_streams: int = 2  # always admitted while under max_sessions
    default_retry: float = 10.0


class Admission:
    def __init__(self, policy: AdmissionPolicy, load: Callable[[], Load]):
        self.policy = policy
        self._load = load
        self._ids = itertools.count()
        self._active: dict[int, float] = {}
        self._uploads: set[int] = set()
        self._durations: collections.deque[float] = collections.deque(maxlen=200)

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def realtime(self) -> int:
        return len(self._active) - len(self._uploads)

    def classify(self, ticket: int, realtime: bool) -> None:
        """The stream's measured class (core_service/pacing.py); streams start as real-time."""
        if ticket not in self._active:
            return
        if realtime:
            self._uploads.discard(ticket)
        else:
            self._uploads.add(ticket)

    def admit(self) -> int:
        """A ticket for a new real-time stream, or ApiError(RESOURCE_EXHAUSTED) to send back."""
        self._check_session_cap()
        refusal = self._realtime_refusal(self.realtime)
        if refusal is not None:
            raise refusal
        return self._add()

    def admit_provisionally(self) -> tuple[int, ApiError | None]:
        """For a stream whose class is not known yet: a ticket, and the refusal a real-time stream
        would get now (None when there is room). With a refusal the ticket counts as an upload:
        the stream starts as one and must `promote` before it may run as real-time. Only the hard
        session cap refuses here (ApiError raised), so an upload can always start."""
        self._check_session_cap()
        refusal = self._realtime_refusal(self.realtime)
        ticket = self._add()
        if refusal is not None:
            self._uploads.add(ticket)
        return ticket, refusal

    def promote(self, ticket: int) -> ApiError | None:
        """A provisional stream was measured as real-time: count it so when there is room now
        (None), else return the refusal to end it with."""
        refusal = self._realtime_refusal(self.realtime)
        if refusal is None:
            self._uploads.discard(ticket)
        return refusal

    def _check_session_cap(self) -> None:
        if len(self._active) >= self.policy.max_sessions:
            raise self._refuse(f"server is at its limit of {self.policy.max_sessions} concurrent streams",
                               "TOO_MANY_SESSIONS")

    def _realtime_refusal(self, n: int) -> ApiError | None:
        """The refusal for one more real-time stream beside `n`, or None when there is room."""
        if n < self.policy.min_streams:
            return None
        load = self._load()
        predicted = load.final_share * (n + 1) / n
        if predicted > self.policy.final_share_budget or load.final_wait > self.policy.final_wait_budget:
            return self._refuse(
                f"server is at its measured capacity ({n} real-time streams; their finals use "
                f"{load.final_share:.0%} of decode time and wait {load.final_wait * 1000:.0f} ms); one more "
                f"real-time stream would slow everyone down", "AT_CAPACITY")
        return None

    def _add(self) -> int:
        ticket = next(self._ids)
        self._active[ticket] = time.monotonic()
        return ticket

    def refusal(self) -> tuple[str, str] | None:
        """(message, reason) when one more real-time stream would be refused now, else None; takes
        no ticket. core_service/health_state.py reads it to report NOT_SERVING while the core is full."""
        try:
            self._check_session_cap()
        except ApiError as cap:
            return cap.message, cap.reason
        refusal = self._realtime_refusal(self.realtime)
        return None if refusal is None else (refusal.message, refusal.reason)

    def release(self, ticket: int) -> None:
        self._uploads.discard(ticket)
        started = self._active.pop(ticket, None)
        if started is not None:
            self._durations.append(time.monotonic() - started)

    def retry_estimate(self) -> float:
        """When the first stream is expected to end: typical stream length minus the oldest one's age."""
        if not self._durations or not self._active:
            return self.policy.default_retry
        typical = statistics.median(self._durations)
        now = time.monotonic()
        soonest = min(max(typical - (now - started), 0.0) for started in self._active.values())
        return round(min(max(soonest, 1.0), 600.0), 1)

    def _refuse(self, message: str, reason: str) -> ApiError:
        retry = self.retry_estimate()
        return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{message}; retry in about {retry:.0f} s",
                        reason=reason, retry_after=retry,
                        metadata={"active_streams": str(len(self._active)),
                                  "max_sessions": str(self.policy.max_sessions)})
