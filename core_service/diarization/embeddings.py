"""A session's window embeddings, computed ahead as its audio arrives.

Windows lie on a fixed grid: `WINDOW_SECONDS` long, one every `HOP_SECONDS` from the stream's
start. Each time audio completes windows, the next ones not yet known (at most `BATCH` at a time)
are embedded in the diarization pool, one job per session at a time; windows of near silence are
skipped. A final then finds most of its windows ready and waits only for the rest: the labels
cost a final little latency, whatever its length (docs/diarization.md). Embeddings of audio the
history no longer holds are forgotten with it.
"""
from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import Executor
from typing import Callable

import numpy as np

from .audio_history import AudioHistory
from .windows import HOP_SECONDS, WINDOW_SECONDS, Window

BATCH = 8  # windows per job computed ahead
QUIET_RMS = 0.003  # about -50 dBFS: a window this quiet is not computed ahead (a final may still ask for it)
EDGE = 0.2  # how far a grid window may reach past a result's speech (silence or the previous speaker)

Embed = Callable[[list[np.ndarray]], np.ndarray]


def grid_window(k: int) -> Window:
    return Window(k * HOP_SECONDS, k * HOP_SECONDS + WINDOW_SECONDS)


def on_grid(start: float, end: float) -> list[Window]:
    """The grid windows within the speech from `start` to `end` (reaching at most EDGE past it),
    plus one window starting with the speech and one ending with it when the grid leaves more than
    EDGE uncovered there (those two are computed when the result asks for them)."""
    out = []
    k = max(math.ceil((start - EDGE) / HOP_SECONDS - 1e-9), 0)
    while k * HOP_SECONDS + WINDOW_SECONDS <= end + EDGE + 1e-9:
        out.append(grid_window(k))
        k += 1
    if not out:
        return out
    if out[0].start > start + EDGE:
        out.insert(0, Window(start, start + WINDOW_SECONDS))
    if out[-1].end < end - EDGE:
        out.append(Window(end - WINDOW_SECONDS, end))
    return out


def _key(w: Window) -> int | None:
    k = round(w.start / HOP_SECONDS)
    return k if abs(w.start - k * HOP_SECONDS) < 1e-6 and abs(w.end - w.start - WINDOW_SECONDS) < 1e-6 else None


class WindowEmbeddings:
    def __init__(self, history: AudioHistory, embed: Embed, pool: Callable[[], Executor]):
        self.history = history
        self._embed = embed
        self._pool = pool
        self.cache: dict[int, np.ndarray] = {}
        self._next = 0  # the first grid window not yet considered
        self._job: asyncio.Future | None = None

    @property
    def busy(self) -> bool:
        return self._job is not None and not self._job.done()

    def advance(self) -> None:
        """Embed the next complete windows in the pool, unless this session's job still runs."""
        if self.busy:
            return
        last = math.floor((self.history.end - WINDOW_SECONDS) / HOP_SECONDS + 1e-9)
        first_held = math.ceil(self.history.start / HOP_SECONDS - 1e-9)
        keys, audio = [], []
        k = max(self._next, first_held)
        while k <= last and len(keys) < BATCH:
            w = grid_window(k)
            samples = self.history.span(w.start, w.end)
            if k not in self.cache and samples.size and float(np.sqrt(np.mean(samples ** 2))) >= QUIET_RMS:
                keys.append(k)
                audio.append(samples)
            k += 1
        self._next = k
        if keys:
            self._submit(keys, audio)

    def _submit(self, keys: list[int | None], audio: list[np.ndarray]) -> asyncio.Future:
        self._job = asyncio.get_running_loop().run_in_executor(self._pool(), self._embed, audio)
        self._job.add_done_callback(lambda job: self._store(keys, job))
        return self._job

    def _store(self, keys: list[int | None], job: asyncio.Future) -> None:
        if job.cancelled() or job.exception() is not None:
            return  # a final asking for these windows computes them again (and reports a failure)
        self.cache.update((k, e) for k, e in zip(keys, job.result()) if k is not None)
        first_held = math.ceil(self.history.start / HOP_SECONDS - 1e-9)
        for k in [k for k in self.cache if k < first_held]:
            del self.cache[k]
        self.advance()

    def latest(self, start: float, end: float) -> np.ndarray | None:
        """The embedding of the last window computed within [start - EDGE, end + EDGE], if any."""
        keys = [k for k in self.cache if grid_window(k).start >= start - EDGE and grid_window(k).end <= end + EDGE]
        return self.cache[max(keys)] if keys else None

    async def of(self, spans: list[Window], deadline: float) -> np.ndarray:
        """The embeddings of `spans`: from the cache, the rest computed now (after this session's
        running job); raises asyncio.TimeoutError past `deadline` seconds."""
        until = time.monotonic() + deadline
        if self.busy:
            await asyncio.wait_for(asyncio.shield(self._job), deadline)
        missing = [i for i, w in enumerate(spans) if _key(w) not in self.cache]
        computed: dict[int, np.ndarray] = {}
        if missing:
            job = self._submit([_key(spans[i]) for i in missing], [self.history.span(spans[i].start, spans[i].end)
                                                                  for i in missing])
            results = await asyncio.wait_for(asyncio.shield(job), max(0.0, until - time.monotonic()))
            computed = dict(zip(missing, results))
        return np.stack([computed[i] if i in computed else self.cache[_key(w)] for i, w in enumerate(spans)])
