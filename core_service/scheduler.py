"""One decode queue per loaded model, shared by every session, run by worker threads.

Three priority classes: real-time finals, then real-time partials, then upload work (finals
and partials of streams sending faster than real time, core_service/pacing.py). Uploads share
what real-time streams leave over round-robin: the upload served least recently goes next, and
an upload that starts joins the round at its end (a stream of new uploads never starves one
that is waiting). While
real-time work was seen lately, uploads may hold at most `workers - 1` workers, so a real-time
final never waits behind a long upload decode on every worker.

A session has at most one partial waiting: a newer request replaces it (its audio is a superset),
so a busy model sheds partial work first and finals never wait behind stale partials. The queue
holds at most `max_queue` jobs: a submit beyond that waits (up to `room_timeout`) for room.
Requests of the same class may be decoded together in one batch (`max_batch`).

Admission control reads what real-time finals cost lately from `meter` (core_service/load_meter.py):
their decode time at firm cost (`firm_fraction` says which share of a batch's time was spare
capacity spent on accuracy; by default none) and how long each waited behind other real-time
finals, which is the time from joining the queue to reaching its head (the first `max_batch`
live finals).
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
from .load_meter import FinalLoadMeter

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")

FINAL, PARTIAL, UPLOAD = 0, 1, 2  # priority classes: real-time finals, real-time partials, uploads
REALTIME_QUIET_SECONDS = 5.0  # uploads may use every worker once real-time work stopped this long ago


class Superseded(Exception):
    """A partial request was replaced by a newer one from the same session."""


class QueueFull(RuntimeError):
    """The decode queue stayed full for `room_timeout` seconds."""


@dataclass(order=True)
class _Job(Generic[Req]):
    priority: int
    seq: int
    request: Any = field(compare=False)
    owner: object = field(compare=False)
    future: asyncio.Future = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    final: bool = field(compare=False, default=True)
    enqueued: float = field(compare=False, default_factory=time.monotonic)
    head_at: float | None = field(compare=False, default=None)  # a real-time final: when no final was ahead of it


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

    def __init__(self, decode: Callable[[list[Req]], list[Res]], *, name: str, max_batch: int = 1, workers: int = 1,
                 max_queue: int = 256, room_timeout: float = 300.0,
                 firm_fraction: Callable[[list[Req]], float] | None = None,
                 purpose: Callable[[Req, bool], str] | None = None):
        self._decode = decode
        self._firm_fraction = firm_fraction or (lambda requests: 1.0)
        # what a request is for, as metrics count decodes (default: final or partial)
        self._purpose = purpose or (lambda request, final: "final" if final else "partial")
        self.name = name
        self._max_batch = max(1, max_batch)
        self.workers = max(1, workers)
        self.max_queue = max(1, max_queue)
        self.room_timeout = room_timeout
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._pending_partial: dict[int, _Job] = {}
        self._room_waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = collections.deque()
        self._upload_turn: dict[int, int] = {}  # owner -> when it was last served (a counter)
        self._turns = itertools.count()
        self._uploads_running = 0
        self._last_realtime = float("-inf")  # when real-time work was last submitted
        self._seq = itertools.count()
        self._closed = False
        self.stats = SchedulerStats()
        self.meter = FinalLoadMeter(self.workers)
        self._threads = [threading.Thread(target=self._run, name=f"decode-{name}-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker."""
        return len(self._queue)

    @property
    def finals_waiting(self) -> int:
        """Real-time finals waiting for a worker."""
        with self._cond:
            return sum(1 for job in self._queue if job.priority == FINAL)

    async def submit(self, request: Req, *, owner: object, final: bool, realtime: bool = True) -> Res:
        """Decode `request`; `realtime` False queues it as upload work (behind real-time work)."""
        loop = asyncio.get_running_loop()
        priority = (FINAL if final else PARTIAL) if realtime else UPLOAD
        deadline = time.monotonic() + self.room_timeout
        while True:
            with self._cond:
                if self._closed:
                    raise RuntimeError("decoder is shut down")
                replaces = not final and id(owner) in self._pending_partial
                if replaces or len(self._queue) < self.max_queue:
                    job = self._enqueue(request, owner, final, priority, loop)
                    break
                room = loop.create_future()
                self._room_waiters.append((loop, room))
            try:
                await asyncio.wait_for(room, max(deadline - time.monotonic(), 0.0))
            except asyncio.TimeoutError:
                raise QueueFull(f"decode queue full ({self.max_queue} jobs) for {self.room_timeout:.0f} s") from None
        return await job.future

    def _enqueue(self, request: Req, owner: object, final: bool, priority: int, loop) -> _Job:
        """Under the lock: queue a job, replacing the owner's waiting partial."""
        job = _Job(priority, next(self._seq), request, owner, loop.create_future(), loop, final)
        if priority != UPLOAD:
            self._last_realtime = time.monotonic()
        old = self._pending_partial.pop(id(owner), None)
        if old is not None:
            self._queue.remove(old)
            self.stats.superseded += 1
            old.loop.call_soon_threadsafe(_set_exception, old.future, Superseded())
        if not final:
            self._pending_partial[id(owner)] = job
        if priority == UPLOAD:  # a new upload joins the round at its end, behind those waiting
            self._upload_turn.setdefault(id(owner), next(self._turns))
        self._queue.append(job)
        self._queue.sort()
        self._mark_head()
        self._cond.notify()
        return job

    def _mark_head(self) -> None:
        """Under the lock, after the queue changed: the real-time finals no other final is ahead
        of now (the first `max_batch` live ones) reached the head."""
        now, ahead = time.monotonic(), 0
        for job in self._queue:
            if job.priority != FINAL or ahead >= self._max_batch:
                return
            if job.future.cancelled():
                continue
            if job.head_at is None:
                job.head_at = now
            ahead += 1

    def _make_room(self) -> None:
        """Under the lock, after jobs left the queue: wake waiting submitters."""
        free = self.max_queue - len(self._queue)
        while free > 0 and self._room_waiters:
            loop, room = self._room_waiters.popleft()
            loop.call_soon_threadsafe(_set_result, room, None)
            free -= 1

    def _upload_slots(self) -> int:
        if time.monotonic() - self._last_realtime < REALTIME_QUIET_SECONDS:
            return max(self.workers - 1, 1)
        return self.workers

    def _pick(self) -> list[_Job]:
        """Under the lock: the next batch, or [] when nothing may run now."""
        if not self._queue:
            return []
        first = self._queue[0]
        if first.priority == UPLOAD:
            if self._uploads_running >= self._upload_slots():
                return []
            # round-robin among uploads: the owner served (or queued first) least recently goes
            # first, its finals first; uploads that start later never overtake one that waits
            first = min(self._queue, key=lambda j: (self._upload_turn.get(id(j.owner), -1), not j.final, j.seq))
            self._upload_turn[id(first.owner)] = next(self._turns)
            self._uploads_running += 1
        self._queue.remove(first)
        batch = [first]
        if first.priority != UPLOAD:
            while self._queue and len(batch) < self._max_batch and self._queue[0].priority == first.priority:
                batch.append(self._queue.pop(0))
        for job in batch:
            if not job.final and self._pending_partial.get(id(job.owner)) is job:
                del self._pending_partial[id(job.owner)]
        self._mark_head()
        self._make_room()
        return batch

    def _take_batch(self) -> list[_Job]:
        with self._cond:
            while not self._closed:
                batch = self._pick()
                if batch:
                    return batch
                # an upload may become runnable when real-time work goes quiet: wake up to re-check
                self._cond.wait(timeout=1.0 if self._queue else None)
            return []

    def forget(self, owner: object) -> None:
        """The owner's stream ended: drop its round-robin turn."""
        with self._cond:
            self._upload_turn.pop(id(owner), None)

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            try:
                self._run_batch(batch)
            finally:
                if batch[0].priority == UPLOAD:
                    with self._cond:
                        self._uploads_running -= 1
                        self._cond.notify_all()

    def _run_batch(self, batch: list[_Job]) -> None:
        live = [j for j in batch if not j.future.cancelled()]
        self.stats.cancelled += len(batch) - len(live)
        batch = live
        if not batch:
            return
        started = time.monotonic()
        try:
            results = self._decode([j.request for j in batch])
        except Exception as exc:  # one bad batch must not kill the worker
            log.exception("decode failed")
            for job in batch:
                job.loop.call_soon_threadsafe(_set_exception, job.future, exc)
            return
        finished = time.monotonic()
        busy = finished - started
        self.stats.busy_seconds += busy
        self.stats.batches += 1
        self.stats.decodes += len(batch)
        if batch[0].final:
            self.stats.finals += len(batch)
        else:
            self.stats.partials += len(batch)
        self.stats.recent.append((finished, busy, batch[0].priority, max(started - j.enqueued for j in batch)))
        if batch[0].priority == FINAL:
            self.meter.record(finished, busy * self._firm_fraction([j.request for j in batch]),
                              [(j.head_at or started) - j.enqueued for j in batch])
        metrics.observe_decode(self.name, batch[0].final, [started - j.enqueued for j in batch], busy)
        metrics.observe_purposes(self.name, [self._purpose(j.request, j.final) for j in batch], busy)
        for job, result in zip(batch, results):
            job.loop.call_soon_threadsafe(_set_result, job.future, (result, busy))

    def utilization(self, seconds: float = 10.0, priority: int | None = None) -> float:
        """Fraction of the workers' time spent decoding (requests of `priority`) lately."""
        return sum(r[1] for r in self.stats.window(seconds, priority)) / (seconds * self.workers)

    def final_wait(self, seconds: float = 10.0, q: float = 95) -> float:
        """The q-th percentile of how long finals waited in the queue lately (0 when none)."""
        waits = sorted(r[3] for r in self.stats.window(seconds, FINAL))
        return waits[min(len(waits) - 1, int(len(waits) * q / 100))] if waits else 0.0

    def final_backlog(self) -> float:
        """How long real-time finals wait behind other real-time finals: the p95 of those decoded
        lately (core_service/load_meter.py), or the longest such wait of a final queued now."""
        now = time.monotonic()
        with self._cond:
            queued = [(job.head_at or now) - job.enqueued for job in self._queue
                      if job.priority == FINAL and not job.future.cancelled()]
        return max([self.meter.backlog_wait(), *queued])

    def describe(self, seconds: float = 30.0) -> str:
        st = self.stats
        return (f"{st.finals} finals, {st.partials} partials, {st.superseded} superseded, {st.cancelled} cancelled, "
                f"{st.batches} batches; busy {self.utilization(seconds):.0%} over {seconds:.0f} s "
                f"(real-time finals {self.utilization(seconds, FINAL):.0%}, uploads {self.utilization(seconds, UPLOAD):.0%}), "
                f"real-time final wait p95 {self.final_wait(seconds) * 1000:.0f} ms "
                f"(lately {self.final_backlog() * 1000:.0f} ms of it behind other finals), {self.queued} queued")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            while self._room_waiters:
                loop, room = self._room_waiters.popleft()
                loop.call_soon_threadsafe(_set_result, room, None)
        for t in self._threads:
            t.join(timeout=10)


def _set_result(fut: asyncio.Future, value) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
