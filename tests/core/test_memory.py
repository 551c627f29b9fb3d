"""The core frees finished sessions' garbage and hands freed C heap memory back to the OS every
few seconds, and keeps few compiled kernels (core_service/memory.py)."""
from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np

from core_service import memory


async def test_the_heap_is_trimmed_every_interval_and_a_failure_does_not_stop_it(monkeypatch):
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        if len(calls) == 1:
            raise OSError("first trim fails")
        return 1

    monkeypatch.setattr(memory, "_libc_trim", lambda: trim)
    task = asyncio.create_task(memory.trim_heap_every(0.01))
    deadline = asyncio.get_running_loop().time() + 5
    while len(calls) < 3:
        assert asyncio.get_running_loop().time() < deadline, calls
        await asyncio.sleep(0.01)
    task.cancel()
    assert calls[:3] == [0, 0, 0]


async def test_interval_zero_turns_trimming_off(monkeypatch):
    monkeypatch.setattr(memory, "_libc_trim", lambda: (_ for _ in ()).throw(AssertionError("trimmed")))
    await asyncio.wait_for(memory.trim_heap_every(0), 1)


def test_this_machine_has_glibc_malloc_trim():
    assert memory._libc_trim() is not None


ENCODE_LENGTHS = """
import sys
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import get_ctranslate2_storage
from core_service import memory, models
if sys.argv[1] == "bounded":
    memory.bound_native_caches()
model = WhisperModel(str(models.tiny_en_path()), device="cpu", compute_type="int8")
for frames in (100, 110, 120, 130, 140, 150, 160, 100):  # clip lengths; the first comes back
    print(f"frames {frames}", flush=True)
    model.model.encode(get_ctranslate2_storage(np.zeros((1, 80, frames), np.float32)), to_cpu=False)
"""


def _kernels_of_the_last_encode(mode: str) -> list[str]:
    """oneDNN's verbose log of the convolutions created for the last encode (the first length again)."""
    env = {k: v for k, v in os.environ.items() if k != memory.ONEDNN_CACHE_VARIABLE}
    out = subprocess.run([sys.executable, "-c", ENCODE_LENGTHS, mode], capture_output=True, text=True, timeout=120,
                         env={**env, "ONEDNN_VERBOSE": "2"}, cwd=Path(__file__).resolve().parents[2], check=True).stdout
    last = out.rsplit("frames 100", 1)[1]
    return [line.split(",")[1] for line in last.splitlines() if ",convolution," in line and ",create:" in line]


def test_the_core_keeps_few_compiled_kernels_so_clip_lengths_do_not_grow_its_memory():
    """With oneDNN's default cache a length seen before reuses its kernels (the cache grows with
    every new length); bounded as the core does, the kernels of older lengths are let go."""
    assert _kernels_of_the_last_encode("default") == ["create:cache_hit"] * 2
    assert _kernels_of_the_last_encode("bounded") == ["create:cache_miss"] * 2


def test_an_operators_own_kernel_cache_setting_wins(monkeypatch):
    monkeypatch.setenv(memory.ONEDNN_CACHE_VARIABLE, "256")
    memory.bound_native_caches()
    assert os.environ[memory.ONEDNN_CACHE_VARIABLE] == "256"


class _SessionLike:
    """A finished session's object graph: a reference cycle holding an audio buffer."""

    def __init__(self) -> None:
        self.audio = np.zeros(16000 * 30, np.float32)
        self.myself = self


async def test_a_finished_sessions_cyclic_garbage_is_freed_within_the_interval(monkeypatch):
    """Freed without waiting for Python's own full collection (turned off here, as it may not
    come for hundreds of sessions)."""
    monkeypatch.setattr(memory, "_libc_trim", lambda: (lambda pad: 1))
    gc.collect()
    gc.disable()
    task = asyncio.create_task(memory.trim_heap_every(0.02))  # first runs after an await below
    try:
        session = _SessionLike()
        gone = weakref.ref(session)
        del session
        assert gone() is not None  # only a collection frees a cycle
        deadline = asyncio.get_running_loop().time() + 5
        while gone() is not None:
            assert asyncio.get_running_loop().time() < deadline, "the cycle was never collected"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        gc.enable()


def test_the_startup_heap_is_frozen_out_of_collections():
    try:
        memory.freeze_startup_heap()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
