"""The decode queue: priority classes, round-robin among uploads, a worker kept for real time, a bound,
supersession of stale partials, batching, failures.

The decode function here only records the order it is called in (and can be held on a gate): these
tests are about the queue, not about decoding.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import AsyncIterator

import pytest

from core_service import scheduler
from core_service.load_meter import MEAN_LIFE_SECONDS
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


def submit(sched: DecodeScheduler, request: str, owner: str, final: bool = True, realtime: bool = True) -> asyncio.Future:
    return asyncio.ensure_future(sched.submit(request, owner=owner, final=final, realtime=realtime))


@contextlib.asynccontextmanager
async def worker_held(sched: DecodeScheduler, dec: Decoder, queued: int) -> AsyncIterator[None]:
    """Keep the (only) worker busy on a gated "block" request while the body queues `queued`
    jobs; then let everything run."""
    blocker = submit(sched, "block", owner="x")
    await until(lambda: dec.running)
    yield
    await until(lambda: sched.queued == queued)
    dec.gate.set()
    await blocker


def final(request: str, owner: str, upload: bool = False) -> dict:
    return dict(request=request, owner=owner, final=True, realtime=not upload)


def partial(request: str, owner: str, upload: bool = False) -> dict:
    return dict(request=request, owner=owner, final=False, realtime=not upload)


async def run_queued(make, requests: list[dict], **kw) -> tuple[Decoder, list]:
    """Queue `requests` on a one-worker scheduler while its worker is held, then run them all:
    the decoder (its order and batches) and each request's result."""
    dec = Decoder()
    sched = make(dec, workers=1, **kw)
    async with worker_held(sched, dec, queued=len(requests)):
        jobs = [submit(sched, **r) for r in requests]
    return dec, [result for result, _busy in await asyncio.gather(*jobs)]


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
    dec, _ = await run_queued(scheduler_factory, [final("upload-final", "u", upload=True), partial("rt-partial", "p"),
                                                  final("rt-final", "f")])
    assert dec.order == ["block", "rt-final", "rt-partial", "upload-final"]


async def test_uploads_take_turns(scheduler_factory):
    dec, _ = await run_queued(scheduler_factory, [final(name, name[0], upload=True)
                                                  for name in ("a1", "a2", "a3", "b1", "b2")])
    assert dec.order == ["block", "a1", "b1", "a2", "b2", "a3"]


async def test_uploads_that_start_later_never_overtake_a_waiting_upload(scheduler_factory):
    """An upload served once waits for its final; uploads that start meanwhile, one after
    another, queue behind it (a busy core that kept starting new uploads once left a session
    without its final for two minutes)."""
    dec = Decoder(gated=("block", "a-partial"))
    sched = scheduler_factory(dec, workers=1)
    partial_a = submit(sched, "a-partial", owner="a", final=False, realtime=False)
    await until(lambda: dec.running == ["a-partial"])  # a was served: its turn is now
    final_a = submit(sched, "a-final", owner="a", realtime=False)
    newcomers = [submit(sched, f"{o}-final", owner=o, realtime=False) for o in "bcd"]
    await until(lambda: sched.queued == 4)
    dec.gate.set()
    await asyncio.gather(partial_a, final_a, *newcomers)
    assert dec.order == ["a-partial", "a-final", "b-final", "c-final", "d-final"]


async def test_uploads_leave_one_worker_to_realtime_streams(scheduler_factory):
    dec = Decoder(gated=("upload",))
    sched = scheduler_factory(dec, workers=2)
    await sched.submit("rt-first", owner="r", final=True)  # real-time work was seen lately
    uploads = [submit(sched, f"upload-{o}", owner=o, realtime=False) for o in "ab"]
    await until(lambda: len(dec.running) == 2)  # rt-first and one upload
    await asyncio.sleep(0.2)
    assert len(dec.running) == 2, "the second upload must not take the last worker"
    # a real-time final runs at once on the free worker while the upload still decodes
    await asyncio.wait_for(sched.submit("rt-final", owner="r", final=True), 2.0)
    dec.gate.set()
    await asyncio.gather(*uploads)


async def test_uploads_use_every_worker_once_realtime_work_went_quiet(scheduler_factory, monkeypatch):
    monkeypatch.setattr(scheduler, "REALTIME_QUIET_SECONDS", 0.2)
    dec = Decoder(gated=("upload",))
    sched = scheduler_factory(dec, workers=2)
    await sched.submit("rt-first", owner="r", final=True)
    await asyncio.sleep(0.3)  # real-time work is now quiet
    uploads = [submit(sched, f"upload-{o}", owner=o, realtime=False) for o in "ab"]
    await until(lambda: len(dec.running) == 3)  # rt-first and both uploads at once
    dec.gate.set()
    await asyncio.gather(*uploads)


async def test_a_full_queue_makes_the_submitter_wait_for_room(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=2)
    async with worker_held(sched, dec, queued=2):
        queued = [submit(sched, f"q{i}", owner=f"o{i}") for i in range(2)]
        await until(lambda: sched.queued == 2)
        third = submit(sched, "q2", owner="o2")
        await asyncio.sleep(0.2)
        assert not third.done() and sched.queued == 2
    await asyncio.gather(*queued, third)
    assert dec.order == ["block", "q0", "q1", "q2"]


async def test_a_queue_full_past_the_room_timeout_fails_the_submit(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=1, room_timeout=0.2)
    async with worker_held(sched, dec, queued=1):
        queued = submit(sched, "q0", owner="o0")
        await until(lambda: sched.queued == 1)
        with pytest.raises(QueueFull):
            await sched.submit("q1", owner="o1", final=True)
    await queued


async def test_a_newer_partial_replaces_the_waiting_one_even_when_the_queue_is_full(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_queue=1)
    async with worker_held(sched, dec, queued=1):
        old = submit(sched, "p-old", owner="p", final=False)
        await until(lambda: sched.queued == 1)
        new = submit(sched, "p-new", owner="p", final=False)
        await until(lambda: old.done())
    await new
    assert dec.order == ["block", "p-new"]


@pytest.mark.parametrize("newer", [partial, final], ids=["newer-partial", "final"])
async def test_a_sessions_waiting_partial_is_superseded_by_its_next_request(scheduler_factory, newer):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    async with worker_held(sched, dec, queued=1):
        stale = submit(sched, **partial("stale", "s"))
        await until(lambda: sched.queued == 1)
        fresh = submit(sched, **newer("fresh", "s"))
        with pytest.raises(Superseded):
            await asyncio.wait_for(stale, 5)
        assert sched.stats.superseded == 1
    await fresh
    assert dec.order == ["block", "fresh"]


async def test_partials_of_other_sessions_are_kept(scheduler_factory):
    dec, _ = await run_queued(scheduler_factory, [partial("partial-a", "a"), partial("partial-b", "b")])
    assert dec.order == ["block", "partial-a", "partial-b"]


async def test_requests_of_one_class_are_decoded_together_up_to_max_batch(scheduler_factory):
    dec, results = await run_queued(scheduler_factory, [final(f"f{i}", f"o{i}") for i in range(4)], max_batch=3)
    assert results == ["f0", "f1", "f2", "f3"]
    assert dec.batches == [["block"], ["f0", "f1", "f2"], ["f3"]]


async def test_a_batch_never_mixes_finals_and_partials(scheduler_factory):
    dec, _ = await run_queued(scheduler_factory, [partial("partial-a", "a"), final("final-b", "b"),
                                                  partial("partial-c", "c"), final("final-d", "d")], max_batch=4)
    assert dec.batches == [["block"], ["final-b", "final-d"], ["partial-a", "partial-c"]]


async def test_uploads_are_decoded_one_request_at_a_time(scheduler_factory):
    dec, _ = await run_queued(scheduler_factory, [final("up-a", "a", upload=True), final("up-b", "b", upload=True)],
                              max_batch=4)
    assert dec.batches == [["block"], ["up-a"], ["up-b"]]


async def test_a_failed_decode_fails_its_batch_and_the_worker_goes_on(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, max_batch=2)
    async with worker_held(sched, dec, queued=2):
        failing = [submit(sched, name, owner=name) for name in ("fail", "ok")]
    for job in failing:
        with pytest.raises(ValueError, match="the model failed"):
            await job
    assert (await sched.submit("after", owner="y", final=True))[0] == "after"


async def test_a_cancelled_request_is_not_decoded(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    async with worker_held(sched, dec, queued=2):
        gone, kept = submit(sched, "gone", owner="g"), submit(sched, "kept", owner="k")
        await until(lambda: sched.queued == 2)
        gone.cancel()
    await kept
    assert dec.order == ["block", "kept"] and sched.stats.cancelled == 1


async def test_a_closed_scheduler_refuses_work(scheduler_factory):
    sched = scheduler_factory(Decoder(), workers=1)
    sched.close()
    with pytest.raises(RuntimeError, match="shut down"):
        await sched.submit("late", owner="l", final=True)


async def test_a_final_waits_behind_other_finals_only_until_it_reaches_the_head(scheduler_factory):
    """What admission reads (core_service/load_meter.py): a final queued while the worker is busy
    but with no final ahead of it is at the head at once; the one after it waits behind it."""
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1)
    blocker = submit(sched, "block", owner="x")
    await until(lambda: dec.running)
    first, second = submit(sched, "first", owner="a"), submit(sched, "second", owner="b")
    await until(lambda: sched.queued == 2)
    await asyncio.sleep(0.3)
    assert sched.final_backlog() >= 0.3  # the second final, queued now behind the first
    dec.gate.set()
    await asyncio.gather(blocker, first, second)
    assert sched.meter.backlog_wait(q=0) < 0.1  # "block" and "first" were never behind a final
    assert sched.meter.backlog_wait(q=100) >= 0.3  # "second" was, until the worker took "first"
    assert sched.final_backlog() >= 0.3  # decoded less than 5 s ago: still counted


async def test_a_finals_work_counts_at_the_firm_fraction_its_decoder_names(scheduler_factory):
    dec = Decoder()
    sched = scheduler_factory(dec, workers=1, firm_fraction=lambda requests: 0.25)
    job = submit(sched, "block", owner="x")
    await until(lambda: dec.running)
    await asyncio.sleep(0.2)
    dec.gate.set()
    await job
    busy = sched.stats.recent[-1][1]
    assert busy >= 0.2
    assert sched.meter.share() * MEAN_LIFE_SECONDS * sched.workers == pytest.approx(busy * 0.25, rel=0.05)


async def test_partials_and_uploads_are_not_measured_for_admission(scheduler_factory):
    sched = scheduler_factory(Decoder(gated=()), workers=1)
    await sched.submit("partial", owner="a", final=False)
    await sched.submit("upload", owner="b", final=True, realtime=False)
    assert sched.stats.decodes == 2 and sched.meter.share() == 0.0 and sched.final_backlog() == 0.0
