"""torch's CPU thread count for the torch engines (FunASR, SpeechBrain), set once per process.

`torch.set_num_threads` is process-wide: when each engine set its own count, whichever loaded
last decided for both (FunASR's AutoModel also sets it from its `ncpu`). The core decides
instead: `configure()` records the count from its CPU settings (`--cpu-threads`, the intra-op
threads per decode worker, as for CTranslate2) before any engine loads, and `apply()`, called
by every torch engine before it builds its model, sets it the first time and returns it.
Without `configure()` (an engine used outside the server) torch's own default is kept.
"""
from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

IGNORED_VARIABLES = ("ASR_FUNASR_THREADS", "ASR_SPEECHBRAIN_THREADS")  # per-engine settings before

_lock = threading.Lock()
_configured: int | None = None
_applied: int | None = None


def configure(threads: int) -> None:
    """Record the count every torch engine will use (the server calls this at start-up)."""
    global _configured
    if threads < 1:
        raise ValueError(f"torch threads must be at least 1, got {threads}")
    with _lock:
        _configured = threads


def apply() -> int:
    """Set torch's intra-op thread count once (the configured one) and return the count in force."""
    global _applied
    import torch

    with _lock:
        if _applied is None:
            for name in IGNORED_VARIABLES:
                if os.environ.get(name):
                    log.warning("%s is ignored: torch threads are process-wide and come from the core's "
                                "--cpu-threads (ASR_CPU_THREADS)", name)
            if _configured is not None:
                torch.set_num_threads(_configured)
                log.info("torch intra-op threads set to %d (--cpu-threads), for every torch engine", _configured)
            _applied = torch.get_num_threads()
        elif torch.get_num_threads() != _applied:  # someone else changed it: put ours back
            log.warning("torch threads were changed to %d; restoring %d", torch.get_num_threads(), _applied)
            torch.set_num_threads(_applied)
        return _applied


def reset() -> None:
    """Forget the configured and applied counts (tests)."""
    global _configured, _applied
    with _lock:
        _configured = _applied = None
