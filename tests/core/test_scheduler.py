"""The decode queue: priority classes, round-robin among uploads, a worker kept for real time, a bound,
supersession of stale partials, batching, failures.

The decode function here only records the order it is called in (and can be held on a gate): these
tests are about the queue, not about decoding.
"""
from __future__ import annotations

import asyncio
import threading

import pytest

from core_service import scheduler
from core_service.scheduler import DecodeScheduler, QueueFull, Superseded


class Decoder:
    """Decodes requests (strings) in order; requests in `gated` wait for `gate` first; a batch
    holding a request starting "fail" raises."""

    def __init__(self, gated: tuple[str, ...] = ("block",)):
        self.gate = threading.Event()
        self.gated = gated
        self.order: list[str] = []
        self.running: list[str] = []
        self.batches: list[list[str]] = []

    def __call__(self, requests: list[str]) -> list[str]:
        self.running.extend(requests)
        self.batches.append(list(requests))
        if any(r.startswith("fail") for r in requests):
            raise ValueError("the model failed")
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
    await until(lambda: sched.queued == 3)
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
    await until(lambda: sched.queued == 5)
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
    await until(lambda: sched.queued == 2)
    third = asyncio.ensure_future(sched.submit("q2", owner="o2", final=True))
    await asyncio.sleep(0.2)
    assert not third.done() and sched.queued == 2
    dec.gate.set()
    await asyncio.gather(blocker, *queued, third)
    assert dec.order == ["block", "q0", "q1", "q2"]


async def test_a_queue_full_past_the_room_timeout_fails_the_submit(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=1, room_timeout=0.2)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    queued = asyncio.ensure_future(sched.submit("q0", owner="o0", final=True))
    await until(lambda: sched.queued == 1)
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
    await until(lambda: sched.queued == 1)
    new = asyncio.ensure_future(sched.submit("p-new", owner="p", final=False))
    await until(lambda: old.done())
    dec.gate.set()
    await asyncio.gather(blocker, new)
    assert dec.order == ["block", "p-new"]


async def test_a_stale_partial_is_answered_superseded(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    old = asyncio.ensure_future(sched.submit("p-old", owner="p", final=False))
    await until(lambda: sched.queued == 1)
    new = asyncio.ensure_future(sched.submit("p-new", owner="p", final=False))
    with pytest.raises(Superseded):
        await asyncio.wait_for(old, 5)
    assert sched.queued == 1 and sched.stats.superseded == 1
    dec.gate.set()
    await asyncio.gather(blocker, new)


async def test_a_final_supersedes_its_sessions_waiting_partial(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    partial = asyncio.ensure_future(sched.submit("partial", owner="s", final=False))
    await until(lambda: sched.queued == 1)
    final = asyncio.ensure_future(sched.submit("final", owner="s", final=True))
    with pytest.raises(Superseded):
        await asyncio.wait_for(partial, 5)
    dec.gate.set()
    await asyncio.gather(blocker, final)
    assert dec.order == ["block", "final"]


async def test_partials_of_other_sessions_are_kept(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    jobs = [asyncio.ensure_future(sched.submit(f"partial-{o}", owner=o, final=False)) for o in "ab"]
    await until(lambda: sched.queued == 2)
    dec.gate.set()
    await asyncio.gather(blocker, *jobs)
    assert dec.order == ["block", "partial-a", "partial-b"] and sched.stats.superseded == 0


async def test_requests_of_one_class_are_decoded_together_up_to_max_batch(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_batch=3)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    jobs = [asyncio.ensure_future(sched.submit(f"f{i}", owner=f"o{i}", final=True)) for i in range(4)]
    await until(lambda: sched.queued == 4)
    dec.gate.set()
    assert [text for text, _busy in await asyncio.gather(*jobs)] == ["f0", "f1", "f2", "f3"]
    await blocker
    assert dec.batches == [["block"], ["f0", "f1", "f2"], ["f3"]]


async def test_a_batch_never_mixes_finals_and_partials(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_batch=4)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    jobs = [asyncio.ensure_future(sched.submit("partial-a", owner="a", final=False)),
            asyncio.ensure_future(sched.submit("final-b", owner="b", final=True)),
            asyncio.ensure_future(sched.submit("partial-c", owner="c", final=False)),
            asyncio.ensure_future(sched.submit("final-d", owner="d", final=True))]
    await until(lambda: sched.queued == 4)
    dec.gate.set()
    await asyncio.gather(blocker, *jobs)
    assert dec.batches == [["block"], ["final-b", "final-d"], ["partial-a", "partial-c"]]


async def test_uploads_are_decoded_one_request_at_a_time(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_batch=4)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    jobs = [asyncio.ensure_future(sched.submit(f"up-{o}", owner=o, final=True, realtime=False)) for o in "ab"]
    await until(lambda: sched.queued == 2)
    dec.gate.set()
    await asyncio.gather(blocker, *jobs)
    assert dec.batches == [["block"], ["up-a"], ["up-b"]]


async def test_among_uploads_waiting_their_turn_finals_go_first(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    partial = asyncio.ensure_future(sched.submit("u-partial", owner="u", final=False, realtime=False))
    await until(lambda: sched.queued == 1)
    final = asyncio.ensure_future(sched.submit("u-final", owner="v", final=True, realtime=False))
    await until(lambda: sched.queued == 2)
    dec.gate.set()
    await asyncio.gather(blocker, partial, final)
    assert dec.order == ["block", "u-final", "u-partial"]


async def test_uploads_use_every_worker_once_realtime_work_went_quiet(scheduler_factory, monkeypatch):
    monkeypatch.setattr(scheduler, "REALTIME_QUIET_SECONDS", 0.2)
    dec = Decoder(gated=("upload",))
    sched = scheduler_factory(dec, workers=2)
    await sched.submit("rt-first", owner="r", final=True)
    await asyncio.sleep(0.3)  # real-time work is now quiet
    uploads = [asyncio.ensure_future(sched.submit(f"upload-{o}", owner=o, final=True, realtime=False))
               for o in "ab"]
    await until(lambda: len(dec.running) == 3)  # rt-first and both uploads at once
    dec.gate.set()
    await asyncio.gather(*uploads)


async def test_a_failed_decode_fails_its_batch_and_the_worker_goes_on(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_batch=2)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    failing = [asyncio.ensure_future(sched.submit(name, owner=name, final=True)) for name in ("fail", "ok")]
    await until(lambda: sched.queued == 2)
    dec.gate.set()
    await blocker
    for job in failing:
        with pytest.raises(ValueError, match="the model failed"):
            await job
    assert (await sched.submit("after", owner="y", final=True))[0] == "after"


async def test_a_cancelled_request_is_not_decoded(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = asyncio.ensure_future(sched.submit("block", owner="x", final=True))
    await until(lambda: dec.running)
    gone = asyncio.ensure_future(sched.submit("gone", owner="g", final=True))
    kept = asyncio.ensure_future(sched.submit("kept", owner="k", final=True))
    await until(lambda: sched.queued == 2)
    gone.cancel()
    dec.gate.set()
    await asyncio.gather(blocker, kept)
    assert dec.order == ["block", "kept"] and sched.stats.cancelled == 1


async def test_a_closed_scheduler_refuses_work(scheduler_factory):
    sched = scheduler_factory(Decoder(), workers=1)
    sched.close()
    with pytest.raises(RuntimeError, match="shut down"):
        await sched.submit("late", owner="l", final=True)
