"""The decode queue: priority classes, round-robin among uploads, a worker kept for real time, a bound.

The decode function here only records the order it is called in (and can be held on a gate): these
tests are about the queue, not about decoding.
"""
from __future__ import annotations

import asyncio
import threading

import pytest

from core_service.scheduler import DecodeScheduler, QueueFull


class Decoder:
    """Decodes requests (strings) in order; requests in `gated` wait for `gate` first."""

    def __init__(self, gated: tuple[str, ...] = ("block",)):
        self.gate = threading.Event()
        self.gated = gated
        self.order: list[str] = []
        self.running: list[str] = []

    def __call__(self, requests: list[str]) -> list[str]:
        self.running.extend(requests)
        if any(r.startswith(self.gated) for r in requests):
            assert self.gate.wait(10)
        self.order.extend(requests)
        return requests


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
def scheduler_factory():
    made: list[DecodeScheduler] = []

    def make(decoder: Decoder, **kw) -> DecodeScheduler:
        s = DecodeScheduler(decoder, name="test", **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


async def test_realtime_finals_then_realtime_partials_then_uploads(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    jobs = [asyncio.ensure_future(sched.submit("upload-final", owner="u", final=True, realtime=False)),
            asyncio.ensure_future(sched.submit("rt-partial", owner="p", final=False)),
            asyncio.ensure_future(sched.submit("rt-final", owner="f", final=True))]
    await until(lambda: sum(sched.backlog()) == 3)
    dec.gate.set()
    await asyncio.gather(blocker, *jobs)
    assert dec.order == ["block", "rt-final", "rt-partial", "upload-final"]


async def test_uploads_take_turns(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    jobs = [asyncio.ensure_future(sched.submit(name, owner=name[0], final=True, realtime=False))
            for name in ("a1", "a2", "a3", "b1", "b2")]
    await until(lambda: sum(sched.backlog()) == 5)
    dec.gate.set()
    await asyncio.gather(blocker, *jobs)
    assert dec.order == ["block", "a1", "b1", "a2", "b2", "a3"]


async def test_uploads_leave_one_worker_to_realtime_streams(scheduler_factory):
    dec = Decoder(gated=("upload",))
    sched = scheduler_factory(dec, workers=2)
    await sched.submit("rt-first", owner="r", final=True)  # real-time work was seen lately
    uploads = [asyncio.ensure_future(sched.submit(f"upload-{o}", owner=o, final=True, realtime=False))
               for o in "ab"]
    await until(lambda: len(dec.running) == 2)  # rt-first and one upload
    await asyncio.sleep(0.2)
    assert len(dec.running) == 2, "the second upload must not take the last worker"
    # a real-time final runs at once on the free worker while the upload still decodes
    await asyncio.wait_for(sched.submit("rt-final", owner="r", final=True), 2.0)
    dec.gate.set()
    await asyncio.gather(*uploads)


async def test_a_full_queue_makes_the_submitter_wait_for_room(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=2)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    queued = [asyncio.ensure_future(sched.submit(f"q{i}", owner=f"o{i}", final=True)) for i in range(2)]
    await until(lambda: sum(sched.backlog()) == 2)
    third = asyncio.ensure_future(sched.submit("q2", owner="o2", final=True))
    await asyncio.sleep(0.2)
    assert not third.done() and sum(sched.backlog()) == 2
    dec.gate.set()
    await asyncio.gather(blocker, *queued, third)
    assert dec.order == ["block", "q0", "q1", "q2"]


async def test_a_queue_full_past_the_room_timeout_fails_the_submit(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=1, room_timeout=0.2)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    queued = asyncio.ensure_future(sched.submit("q0", owner="o0", final=True))
    await until(lambda: sum(sched.backlog()) == 1)
    with pytest.raises(QueueFull):
        await sched.submit("q1", owner="o1", final=True)
    dec.gate.set()
    await asyncio.gather(blocker, queued)


async def test_a_newer_partial_replaces_the_waiting_one_even_when_the_queue_is_full(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    old = asyncio.ensure_future(sched.submit("p-old", owner="p", final=False))
    await until(lambda: sum(sched.backlog()) == 1)
    new = asyncio.ensure_future(sched.submit("p-new", owner="p", final=False))
    await until(lambda: old.done())
    dec.gate.set()
    await asyncio.gather(blocker, new)
    assert dec.order == ["block", "p-new"]
