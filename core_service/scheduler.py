"""One decode queue per loaded model, shared by every session, run by a worker thread.

Finals go before partials. A session has at most one partial waiting: a newer request
replaces it (its audio is a superset), so a busy model sheds partial work first and finals
never wait behind stale partials. Requests of the same kind may be decoded together in one
batch (`max_batch`).
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from . import metrics

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")

FINAL, PARTIAL = 0, 1


class Superseded(Exception):
    """A partial request was replaced by a newer one from the same session."""


@dataclass(order=True)
class _Job(Generic[Req]):
    priority: int
    seq: int
    request: Any = field(compare=False)
    owner: object = field(compare=False)
    future: asyncio.Future = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    enqueued: float = field(compare=False, default_factory=time.monotonic)


@dataclass
class SchedulerStats:
    decodes: int = 0
    batches: int = 0
    superseded: int = 0
    busy_seconds: float = 0.0
    finals: int = 0
    partials: int = 0
    cancelled: int = 0
    # (finished at, busy seconds, priority, worst queue wait in the batch), recent batches only
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))

    def window(self, seconds: float, priority: int | None = None) -> list[tuple[float, float, int, float]]:
        since = time.monotonic() - seconds
        return [r for r in list(self.recent) if r[0] >= since and (priority is None or r[2] == priority)]


class DecodeScheduler(Generic[Req, Res]):
    """Runs `decode(list[Req]) -> list[Res]` on a worker thread with priorities."""

    def __init__(self, decode: Callable[[list[Req]], list[Res]], *, name: str, max_batch: int = 1, workers: int = 1):
        self._decode = decode
        self.name = name
        self._max_batch = max(1, max_batch)
        self.workers = max(1, workers)
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._pending_partial: dict[int, _Job] = {}
        self._seq = itertools.count()
        self._closed = False
        self.stats = SchedulerStats()
        self._threads = [threading.Thread(target=self._run, name=f"decode-{name}-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()

    def backlog(self) -> tuple[int, int]:
        """(finals, partials) waiting."""
        with self._cond:
            finals = sum(1 for j in self._queue if j.priority == FINAL)
            return finals, len(self._queue) - finals

    async def submit(self, request: Req, *, owner: object, final: bool) -> Res:
        loop = asyncio.get_running_loop()
        job = _Job(FINAL if final else PARTIAL, next(self._seq), request, owner, loop.create_future(), loop)
        with self._cond:
            if self._closed:
                raise RuntimeError("decoder is shut down")
            old = self._pending_partial.pop(id(owner), None)
            if old is not None:
                self._queue.remove(old)
                self.stats.superseded += 1
                old.loop.call_soon_threadsafe(_set_exception, old.future, Superseded())
            if not final:
                self._pending_partial[id(owner)] = job
            self._queue.append(job)
            self._queue.sort()
            self._cond.notify()
        return await job.future

    def _take_batch(self) -> list[_Job]:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return []
            first = self._queue.pop(0)
            batch = [first]
            while self._queue and len(batch) < self._max_batch and self._queue[0].priority == first.priority:
                batch.append(self._queue.pop(0))
            for job in batch:
                if job.priority == PARTIAL and self._pending_partial.get(id(job.owner)) is job:
                    del self._pending_partial[id(job.owner)]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            live = [j for j in batch if not j.future.cancelled()]
            self.stats.cancelled += len(batch) - len(live)
            batch = live
            if not batch:
                continue
            started = time.monotonic()
            try:
                results = self._decode([j.request for j in batch])
            except Exception as exc:  # one bad batch must not kill the worker
                log.exception("decode failed")
                for job in batch:
                    job.loop.call_soon_threadsafe(_set_exception, job.future, exc)
                continue
            finished = time.monotonic()
            busy = finished - started
            self.stats.busy_seconds += busy
            self.stats.batches += 1
            self.stats.decodes += len(batch)
            if batch[0].priority == FINAL:
                self.stats.finals += len(batch)
            else:
                self.stats.partials += len(batch)
            self.stats.recent.append((finished, busy, batch[0].priority, max(started - j.enqueued for j in batch)))
            metrics.observe_decode(self.name, batch[0].priority == FINAL, [started - j.enqueued for j in batch], busy)
            for job, result in zip(batch, results):
                job.loop.call_soon_threadsafe(_set_result, job.future, (result, busy))

    def utilization(self, seconds: float = 10.0, priority: int | None = None) -> float:
        """Fraction of the workers' time spent decoding (requests of `priority`) lately."""
        return sum(r[1] for r in self.stats.window(seconds, priority)) / (seconds * self.workers)

    def final_wait(self, seconds: float = 10.0, q: float = 95) -> float:
        """The q-th percentile of how long finals waited in the queue lately (0 when none)."""
        waits = sorted(r[3] for r in self.stats.window(seconds, FINAL))
        return waits[min(len(waits) - 1, int(len(waits) * q / 100))] if waits else 0.0

    def describe(self, seconds: float = 30.0) -> str:
        st = self.stats
        return (f"{st.finals} finals, {st.partials} partials, {st.superseded} superseded, {st.cancelled} cancelled, "
                f"{st.batches} batches; busy {self.utilization(seconds):.0%} over {seconds:.0f} s "
                f"(finals {self.utilization(seconds, FINAL):.0%}), final wait p95 {self.final_wait(seconds) * 1000:.0f} ms")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=10)


def _set_result(fut: asyncio.Future, value) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
