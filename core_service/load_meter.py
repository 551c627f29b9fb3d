"""What real-time finals cost a decoder lately: the measurements admission control reads.

Only real-time finals are measured: partials expand to fill idle decode time and back off
first under load, and uploads run on what real-time streams leave over (core_service/scheduler.py).
Two measurements, both forgetting the past within seconds so that an overload that has passed
stops counting (core_service/admission.py says how they are used):

- **work**: worker-seconds spent decoding real-time finals, as a sum that decays by half every
  `LOAD_HALF_LIFE_SECONDS`. A steady rate of r worker-seconds per second sums to r times
  `MEAN_LIFE_SECONDS`, so the sum divided by that is the recent rate. Work is counted at its
  *firm* cost, what the final would cost on a loaded decoder: the decoder says which part of a
  decode was spare capacity spent on accuracy (engines/whisper.py: a full encoder window chosen
  by `--final-window auto`, which falls back to the trimmed window under load).
- **queueing**: how long each real-time final waited behind *other* real-time finals before it
  reached the head of the queue. A final at the head waits at most for one decode in progress
  to end, whatever the number of streams; a final behind others waits longer with every stream
  added, so this, not the whole queue wait, says that finals outnumber the workers. Reported as
  the p95 over the last `WAIT_WINDOW_SECONDS` of decoded finals.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from typing import Callable

LOAD_HALF_LIFE_SECONDS = 5.0
MEAN_LIFE_SECONDS = LOAD_HALF_LIFE_SECONDS / math.log(2)  # what a steady rate of 1 per second sums to
WAIT_WINDOW_SECONDS = 5.0
MAX_WAIT_SAMPLES = 2048  # finals remembered for the queueing p95 (bounded, whatever the load)

Clock = Callable[[], float]


def decay(seconds: float, half_life: float = LOAD_HALF_LIFE_SECONDS) -> float:
    """The weight left after `seconds`."""
    return 2.0 ** (-max(seconds, 0.0) / half_life)


class DecayingSum:
    """A sum whose terms lose half their weight every `half_life` seconds; thread-safe."""

    def __init__(self, half_life: float = LOAD_HALF_LIFE_SECONDS, clock: Clock = time.monotonic):
        self.half_life = half_life
        self._clock = clock
        self._lock = threading.Lock()
        self._value = 0.0
        self._at = clock()

    def add(self, amount: float, at: float | None = None) -> None:
        """Add `amount` as of `at` (default: now); `at` never earlier than the last add."""
        with self._lock:
            at = self._clock() if at is None else at
            self._value = self._value * decay(at - self._at, self.half_life) + amount
            self._at = max(at, self._at)

    def value(self, at: float | None = None) -> float:
        with self._lock:
            at = self._clock() if at is None else at
            return self._value * decay(at - self._at, self.half_life)


class FinalLoadMeter:
    """Recent real-time final work and queueing of one decoder with `workers` workers."""

    def __init__(self, workers: int, clock: Clock = time.monotonic):
        self.workers = max(1, workers)
        self._clock = clock
        self._work = DecayingSum(LOAD_HALF_LIFE_SECONDS, clock)
        self._waits: collections.deque[tuple[float, float]] = collections.deque(maxlen=MAX_WAIT_SAMPLES)

    def record(self, finished: float, firm_seconds: float, backlog_waits: list[float]) -> None:
        """A batch of real-time finals ended at `finished`: its firm decode cost in
        worker-seconds, and how long each of its finals waited behind other finals."""
        self._work.add(firm_seconds, finished)
        for wait in backlog_waits:
            self._waits.append((finished, wait))

    def share(self) -> float:
        """The recent fraction of the workers' time real-time finals took at firm cost."""
        return self._work.value() / (MEAN_LIFE_SECONDS * self.workers)

    def backlog_wait(self, q: float = 95) -> float:
        """The q-th percentile of how long real-time finals decoded in the last
        `WAIT_WINDOW_SECONDS` waited behind other real-time finals (0 when none were decoded)."""
        since = self._clock() - WAIT_WINDOW_SECONDS
        waits = sorted(wait for finished, wait in list(self._waits) if finished >= since)
        return waits[min(len(waits) - 1, int(len(waits) * q / 100))] if waits else 0.0
