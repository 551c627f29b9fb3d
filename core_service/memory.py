"""Giving freed C heap memory back to the operating system.

Decodes, VAD and gRPC allocate on many threads; glibc keeps what they free in its arenas, so
the process's resident size after a thousand sessions depends on which buffers happened to be
live last rather than on what is in use (bench/soak.py: the core's RSS wandered between 400 and
480 MB from one hundred sessions to the next). `malloc_trim` returns the free pages; run every
few seconds off the event loop it keeps the idle RSS where it was after warm-up.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

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


async def trim_heap_every(interval: float) -> None:
    """Every `interval` seconds, hand the C heap's free pages back (a no-op without glibc)."""
    trim = _libc_trim() if interval > 0 else None
    if trim is None:
        log.debug("heap trimming off (%s)", "interval 0" if interval <= 0 else "no glibc malloc_trim")
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            await loop.run_in_executor(None, trim, 0)
        except Exception:  # never worth ending the server for
            log.exception("malloc_trim failed")
