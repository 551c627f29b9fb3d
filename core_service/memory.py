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

log = logging.getLogger(__name__)


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
