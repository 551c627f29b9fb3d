"""Giving finished sessions' memory back to the operating system, and keeping native caches
small.

- oneDNN's compiled-kernel cache is bounded (`bound_native_caches`).
- The startup heap is frozen out of the garbage collector once the core is ready
  (`freeze_startup_heap`), so a full collection walks only what sessions hold.
- Every `--heap-trim-interval` seconds (`trim_heap_every`): a full collection frees finished
  sessions' reference cycles, then glibc's `malloc_trim`, off the event loop, hands the free
  pages back. Decodes, VAD and gRPC allocate on many threads and glibc keeps what they free in
  its arenas; without the trim the idle RSS depends on which buffers happened to be live last.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import time

log = logging.getLogger(__name__)

SLOW_COLLECTION_SECONDS = 0.05  # a collection blocks the event loop: say so when it is long

# oneDNN (CTranslate2's convolutions on CPU) keeps compiled kernels by input shape, 1,024 by
# default. Every new clip length (trimmed windows follow the audio) adds about seven, so the
# core's RSS grew ~33 KB per session for as long as a soak ran (bench/soak.py: +7 % over 800
# sessions; with 16: +2.2 %, flat). Creating a kernel costs nothing measurable (a tiny.en encode
# of 3 s: 12.4 ms the first time at a length and after), so few are kept.
ONEDNN_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = 16


def bound_native_caches() -> None:
    """Bound oneDNN's kernel cache before the first decode (oneDNN reads the variable then);
    an operator's own ONEDNN_PRIMITIVE_CACHE_CAPACITY wins."""
    os.environ.setdefault(ONEDNN_CACHE_VARIABLE, str(ONEDNN_CACHE_CAPACITY))


def _libc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def freeze_startup_heap() -> None:
    """Take what the core built while starting (modules, engines, the models' Python objects:
    ~50,000 objects) out of the garbage collector's sight, once it is ready to serve, so that
    a full collection (`trim_heap_every`) walks only what sessions hold: ~0 ms instead of 31."""
    gc.collect()
    gc.freeze()
    log.debug("froze %d startup objects out of the garbage collector's sight", gc.get_freeze_count())


def collect_session_garbage() -> int:
    """A full collection. A session leaves its object graph in reference cycles (tasks,
    exceptions and their tracebacks, closures: ~90 objects), holding its audio buffers and
    protobuf arenas, ~20 KB of C heap per session. Python runs a full collection only when the
    objects that survived since the last one reach a quarter of all long-lived ones, so the
    garbage of hundreds of sessions piled up between collections (the soak's idle RSS wandered
    by 5 % from one run to the next; `gc.collect()` before measuring took the growth from
    ~20 KB to 0.2 KB per session). Returns the number of objects freed."""
    started = time.perf_counter()
    freed = gc.collect()
    took = time.perf_counter() - started
    (log.warning if took > SLOW_COLLECTION_SECONDS else log.debug)(
        "garbage collection freed %d objects in %.1f ms", freed, 1000 * took)
    return freed


async def trim_heap_every(interval: float) -> None:
    """Every `interval` seconds, free the sessions' cyclic garbage, then hand the C heap's free
    pages back (the trim is a no-op without glibc)."""
    if interval <= 0:
        log.debug("heap trimming off (interval 0)")
        return
    trim = _libc_trim()
    if trim is None:
        log.debug("no glibc malloc_trim: only the garbage is collected")
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            collect_session_garbage()
            if trim is not None:
                await loop.run_in_executor(None, trim, 0)
        except Exception:  # never worth ending the server for
            log.exception("heap trim failed")
