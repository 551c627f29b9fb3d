"""Core latency: final-result latency after each utterance, partial lag and cadence, refusals,
WER and CPU, for 1 to 32 real-time streams, lockstep or staggered, side by side with a baseline.

Real-time mode streams ~44 s of synthesised speech (10 utterances, 1.2 s pauses between, or
--pause) in 100 ms chunks at real-time pace over gRPC. For each utterance:
  final latency   = arrival of its final result - send time of the chunk holding its last audio
  partial latency = arrival of its first partial - send time of the chunk holding its first audio
For each partial:
  partial lag      = its arrival - send time of the chunk holding the last audio it covers
  partial interval = time since the previous partial of the same utterance
Refused = streams the core turned away (RESOURCE_EXHAUSTED / UNAVAILABLE). CPU = the core
process's CPU seconds per audio second of the served streams (holds on a busy machine).
Fast mode streams the same audio as fast as possible and reports the real-time factor
(wall time / audio time) and WER.

    python -m bench.latency [--streams 1 4 16 32] [--stagger 0 0.27] [--baseline-tree DIR]
                            [--versus CORE_ARGS ...] [--runs R] [--sentences K]

Each (streams, stagger) load runs on a fresh core for each configuration: first the
--baseline-tree core, then this tree's (--core-args), then each --versus, printed side by side
with ratios to the first. With several stream counts, a chart of final latency against streams
is written to bench/results/latency_vs_streams.txt.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time
from typing import Callable

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.audio_fixtures import SAMPLE_RATE, to_pcm16, wer

from .common import RESULTS, Workload, process_cpu_seconds, save, start_core, summary, workload
from .latency_report import cell_header, latency_chart, side_by_side

log = logging.getLogger("bench.latency")
CHUNK = 1600  # 100 ms


def secs(d) -> float:
    return d.seconds + d.nanos / 1e9


async def stream_once(address: str, wl: Workload, realtime: bool, delay: float = 0.0) -> dict:
    pcm = to_pcm16(wl.audio)
    chunks = [pcm[i:i + CHUNK * 2] for i in range(0, len(pcm), CHUNK * 2)]
    sent_at: list[float] = []
    arrivals: list[tuple[float, asr_pb2.RecognitionResult]] = []

    async def requests():
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(interim_results=True))
        t0 = time.monotonic()
        for i, chunk in enumerate(chunks):
            if realtime:
                await asyncio.sleep(max(0.0, t0 + i * CHUNK / SAMPLE_RATE - time.monotonic()))
            sent_at.append(time.monotonic())
            yield asr_pb2.RecognizeRequest(audio=chunk)

    await asyncio.sleep(delay)
    started = time.monotonic()
    async with grpc.aio.insecure_channel(address) as channel:
        async for resp in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests()):
            if resp.WhichOneof("response") == "result":
                arrivals.append((time.monotonic(), resp.result))
    wall = time.monotonic() - started

    def chunk_time(t: float) -> float:
        return sent_at[min(int(t * SAMPLE_RATE) // CHUNK, len(sent_at) - 1)]

    finals = [(t, r) for t, r in arrivals if r.is_final]
    final_lat, partial_lat = [], []
    for start, end in wl.spans:
        match = [(t, r) for t, r in finals if secs(r.start_offset) < end and secs(r.end_offset) > start]
        if match:
            final_lat.append(match[-1][0] - chunk_time(end))
            seg = match[-1][1].segment_id
            partials = [t for t, r in arrivals if not r.is_final and r.segment_id == seg]
            if partials:
                partial_lat.append(partials[0] - chunk_time(start))
    lag, interval = partial_timing(arrivals, chunk_time)
    text = " ".join(r.text for _, r in finals)
    return {"final": final_lat, "partial": partial_lat, "partial_lag": lag, "partial_interval": interval,
            "wall": wall, "wer": wer(" ".join(wl.texts), text), "segments": len(finals), "text": text}


def partial_timing(arrivals: list[tuple[float, asr_pb2.RecognitionResult]],
                   chunk_time: Callable[[float], float]) -> tuple[list[float], list[float]]:
    """Partial lag (arrival - send time of the last audio a partial covers) and partial interval
    (time since the previous result of the same utterance, partial or its start) of every partial."""
    lag, interval = [], []
    last: dict[int, float] = {}
    for t, r in arrivals:
        if r.is_final:
            continue
        lag.append(t - chunk_time(secs(r.end_offset)))
        if r.segment_id in last:
            interval.append(t - last[r.segment_id])
        last[r.segment_id] = t
    return lag, interval


async def admitted_stream(address: str, wl: Workload, delay: float) -> dict | None:
    """`stream_once` in real time; None when the core refused the stream."""
    try:
        return await stream_once(address, wl, True, delay)
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
            raise
        log.info("stream refused: %s: %s", err.code().name, err.details())
        return None


async def run(address: str, streams: int, runs: int, stagger: float = 0.0, pause: float = 1.2,
              cpu: Callable[[], float] | None = None, sentences: int = 0, fast: bool = True) -> dict:
    """The workload in real time (`streams` together, or `stagger` seconds apart; `runs` times),
    then once as fast as possible; with `cpu` (the core's CPU seconds so far), the core's CPU per
    audio second. Started together, every stream ends every utterance in the same instant."""
    wl = workload(pause, sentences)
    cpu_before = cpu() if cpu else 0.0
    out: dict = {"audio_seconds": wl.seconds, "streams": streams, "stagger": stagger, "pause": pause}
    finals, partials, lags, intervals, wers, worst, refused, served = [], [], [], [], [], "", 0, 0
    for _ in range(runs):
        results = await asyncio.gather(*(admitted_stream(address, wl, i * stagger) for i in range(streams)))
        refused += sum(r is None for r in results)
        for r in (r for r in results if r is not None):
            served += 1
            finals += r["final"]
            partials += r["partial"]
            lags += r["partial_lag"]
            intervals += r["partial_interval"]
            if not wers or r["wer"] > max(wers):
                worst = r["text"]
            wers.append(r["wer"])
    out["realtime"] = {"final_latency": summary(finals), "first_partial_latency": summary(partials),
                       "partial_lag": summary(lags), "partial_interval": summary(intervals),
                       "refused": refused, "served": served,
                       "utterances_without_final": served * len(wl.spans) - len(finals),
                       "wer_max": max(wers, default=float("nan")),
                       "wer_mean": sum(wers) / len(wers) if wers else float("nan"), "worst_text": worst}
    if cpu and served:
        out["realtime"]["cpu_per_audio_second"] = (cpu() - cpu_before) / (wl.seconds * served)
    if fast:
        r = await stream_once(address, wl, False)
        out["fast"] = {"wall_seconds": r["wall"], "rtf": r["wall"] / wl.seconds, "wer": r["wer"],
                       "x_realtime": wl.seconds / r["wall"]}
    return out


def measure(args: argparse.Namespace, streams: int, stagger: float, core_args: str, tree: str | None = None) -> dict:
    """One configuration and load: a fresh core started here (or from the source tree `tree`)
    with `core_args`, or the --server given."""
    proc = None
    address = args.server
    if not address:
        proc = start_core(50090, *core_args.split(), tree=tree)
        address = "127.0.0.1:50090"
    try:
        cpu = (lambda: process_cpu_seconds(proc.pid)) if proc else None
        return asyncio.run(run(address, streams, args.runs, stagger, args.pause, cpu, args.sentences,
                               fast=not args.no_fast))
    finally:
        if proc:
            proc.terminate()
            proc.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="core address; default: start one on port 50090 (a fresh one per load)")
    parser.add_argument("--streams", type=int, nargs="+", default=[1],
                        help="stream counts to measure, e.g. --streams 1 4 16 32 (each on a fresh core)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--stagger", type=float, nargs="+", default=[0.0],
                        help="seconds between stream starts; 0 = lockstep: all start together and every stream "
                             "ends every utterance in the same instant (the worst case). Several values: each "
                             "is measured, e.g. --stagger 0 0.27")
    parser.add_argument("--pause", type=float, default=1.2,
                        help="seconds of silence between the sentences; 2 makes each sentence a turn of "
                             "its own for --segmentation accurate (1.5 s pauses), which merges them at 1.2")
    parser.add_argument("--sentences", type=int, default=0,
                        help="the workload's first K sentences only (0 = all ten): a smoke run")
    parser.add_argument("--no-fast", action="store_true", help="skip the as-fast-as-possible run")
    parser.add_argument("--core-args", default="", help="extra flags for the core started here")
    parser.add_argument("--versus", action="append", default=[], metavar="CORE_ARGS",
                        help="also measure a core started with these flags instead, one after the other, and "
                             "print the figures side by side with ratios to the first (repeatable), e.g. "
                             "--versus '--final-window trimmed'")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="first measure a core started from this other checkout (e.g. a git worktree of the "
                             "commit before a change) with --baseline-args, then the configurations above")
    parser.add_argument("--baseline-args", default="", help="flags for the --baseline-tree core")
    parser.add_argument("--chart", default="",
                        help="name of the chart of final latency against streams written to bench/results/ "
                             "(default: latency_vs_streams when several stream counts are measured)")
    args = parser.parse_args()
    if (args.versus or args.baseline_tree) and args.server:
        parser.error("--versus and --baseline-tree start their own cores: leave out --server")
    configs: list[tuple[str, str | None]] = []
    if args.baseline_tree:  # first: a core that cannot start fails the run before the others
        configs.append((args.baseline_args, args.baseline_tree))
    configs += [(core_args, None) for core_args in [args.core_args] + args.versus]
    names = [f"{tree} {a}".strip() if tree else (a or "(defaults)") for a, tree in configs]
    cells = []
    for stagger in args.stagger:
        for streams in args.streams:
            results = [measure(args, streams, stagger, a, tree) for a, tree in configs]
            cells.append({"streams": streams, "stagger": stagger, "results": results})
            print(cell_header(streams, stagger, args.runs, results[0]["audio_seconds"], args.pause))
            print(side_by_side(names, results))
    pause = f"-pause{args.pause:g}" if args.pause != 1.2 else ""
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(names[1:]).lower()).strip("-")[:60]
    loads = "-".join(map(str, args.streams)) + "".join(f"-stagger{s:g}" for s in args.stagger if s)
    saved = save(f"latency-{loads}{pause}" + (f"-versus-{slug}" if slug else ""), {"configs": names, "cells": cells})
    print(f"  saved {saved}")
    if len(args.streams) > 1 or args.chart:
        chart = latency_chart(names, cells)
        print(chart)
        path = RESULTS / f"{args.chart or 'latency_vs_streams'}.txt"
        path.write_text(chart + "\n")
        print(f"  chart saved {path}")


if __name__ == "__main__":
    main()
