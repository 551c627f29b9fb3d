"""The core hands freed C heap memory back to the OS every few seconds (core_service/memory.py)."""
from __future__ import annotations

import asyncio

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
