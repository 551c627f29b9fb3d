"""Real-time or upload: how fast a stream's audio arrives, measured against wall time.

A real-time stream (a live microphone) delivers about one second of audio per second; an
upload (a recorded file sent as fast as possible) delivers many. Over a sliding window of
wall time, a stream is an upload when it delivered more than `realtime_factor` times the
window's length in audio plus a `burst` allowance (a client may send a pre-buffer at once), or
when flow control had to hold it back during the window: a real-time stream never builds a
backlog, so being throttled is itself the mark of an upload, and keeps a throttled upload from
passing for real time while its pace is held down to the decoders' speed.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class PacingPolicy:
    window_seconds: float = 10.0  # wall time over which the arrival rate is measured
    realtime_factor: float = 1.5  # audio seconds per wall second still counted as real time
    burst_seconds: float = 2.0  # audio a real-time client may send ahead of the clock


class ArrivalPacing:
    """Feed it the running total of audio seconds received; ask it `realtime`."""

    def __init__(self, policy: PacingPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self._clock = clock
        now = clock()
        self._samples: collections.deque[tuple[float, float]] = collections.deque([(now, 0.0)])
        self._throttled_at = float("-inf")

    def record(self, audio_total_seconds: float) -> None:
        now = self._clock()
        self._samples.append((now, audio_total_seconds))
        # keep one sample at or before the window's start as the baseline
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.policy.window_seconds:
            self._samples.popleft()

    def throttled(self) -> None:
        """Flow control held this stream back just now."""
        self._throttled_at = self._clock()

    @property
    def realtime(self) -> bool:
        now = self._clock()
        if now - self._throttled_at < self.policy.window_seconds:
            return False
        (t0, a0), (_, a1) = self._samples[0], self._samples[-1]
        wall = max(now - t0, 0.0)
        return a1 - a0 <= wall * self.policy.realtime_factor + self.policy.burst_seconds
