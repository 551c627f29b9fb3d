"""Core latency: final-result latency after each utterance, first-partial latency, real-time factor.

Real-time mode streams ~44 s of synthesised speech (10 utterances, 1.2 s pauses between, or
--pause) in 100 ms chunks at real-time pace over gRPC. For each utterance:
  final latency   = arrival of its final result - send time of the chunk holding its last audio
  partial latency = arrival of its first partial - send time of the chunk holding its first audio
Fast mode streams the same audio as fast as possible and reports the real-time factor
(wall time / audio time) and WER.

    python -m bench.latency [--server HOST:PORT] [--streams N] [--runs R] [--versus CORE_ARGS ...]

With --versus, the same workload runs against a core with other flags (one after the other) and
the figures print side by side with ratios: a hot-path change is measured before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.audio_fixtures import SAMPLE_RATE, to_pcm16, wer

from typing import Callable

from .common import Workload, process_cpu_seconds, save, start_core, summary, workload

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
    text = " ".join(r.text for _, r in finals)
    return {"final": final_lat, "partial": partial_lat, "wall": wall, "wer": wer(" ".join(wl.texts), text),
            "segments": len(finals), "text": text}


async def run(address: str, streams: int, runs: int, stagger: float = 0.0, pause: float = 1.2,
              cpu: Callable[[], float] | None = None) -> dict:
    """The workload in real time (`streams` together, `runs` times), then once as fast as
    possible; with `cpu` (the core's CPU seconds so far), the core's CPU per audio second."""
    wl = workload(pause)
    cpu_before = cpu() if cpu else 0.0
    out: dict = {"audio_seconds": wl.seconds, "streams": streams, "stagger": stagger, "pause": pause}
    finals, partials, wers, worst = [], [], [], ""
    for _ in range(runs):
        results = await asyncio.gather(*(stream_once(address, wl, True, i * stagger) for i in range(streams)))
        for r in results:
            finals += r["final"]
            partials += r["partial"]
            if not wers or r["wer"] > max(wers):
                worst = r["text"]
            wers.append(r["wer"])
    out["realtime"] = {"final_latency": summary(finals), "first_partial_latency": summary(partials),
                       "wer_max": max(wers), "worst_text": worst}
    if cpu:
        out["realtime"]["cpu_per_audio_second"] = (cpu() - cpu_before) / (wl.seconds * streams * runs)
    fast = await stream_once(address, wl, False)
    out["fast"] = {"wall_seconds": fast["wall"], "rtf": fast["wall"] / wl.seconds, "wer": fast["wer"],
                   "x_realtime": wl.seconds / fast["wall"]}
    return out


def measure(args: argparse.Namespace, core_args: str, tree: str | None = None) -> dict:
    """One configuration: a core started here (or from the source tree `tree`) with `core_args`,
    or the --server given."""
    proc = None
    address = args.server
    if not address:
        proc = start_core(50090, *core_args.split(), tree=tree)
        address = "127.0.0.1:50090"
    try:
        cpu = (lambda: process_cpu_seconds(proc.pid)) if proc else None
        return asyncio.run(run(address, args.streams, args.runs, args.stagger, args.pause, cpu))
    finally:
        if proc:
            proc.terminate()
            proc.wait()


FIGURES = (
    ("final latency p50", lambda r: r["realtime"]["final_latency"]["p50"] * 1000, "ms"),
    ("final latency p95", lambda r: r["realtime"]["final_latency"]["p95"] * 1000, "ms"),
    ("first-partial latency p50", lambda r: r["realtime"]["first_partial_latency"]["p50"] * 1000, "ms"),
    ("first-partial latency p95", lambda r: r["realtime"]["first_partial_latency"]["p95"] * 1000, "ms"),
    ("worst stream WER (real time)", lambda r: r["realtime"]["wer_max"] * 100, "%"),
    ("core CPU s per audio s (real time)", lambda r: r["realtime"].get("cpu_per_audio_second", 0.0), ""),
    ("as fast as possible: RTF", lambda r: r["fast"]["rtf"], ""),
    ("as fast as possible: WER", lambda r: r["fast"]["wer"] * 100, "%"),
)


def side_by_side(names: list[str], results: list[dict]) -> str:
    """One row per figure, one column per configuration, and each one's ratio to the first."""
    lines = [f"  [{chr(65 + i)}] {n}" for i, n in enumerate(names)]
    lines.append(f"{'figure':36}" + "".join(f"{'[' + chr(65 + i) + ']':>24}" for i in range(len(names))))
    for label, get, unit in FIGURES:
        values = [get(r) for r in results]
        cells = []
        for i, v in enumerate(values):
            ratio = f" ({v / values[0]:.2f}x)" if i and values[0] else ""
            cells.append(f"{v:.3f}{unit}{ratio}" if unit == "" else f"{v:.0f} {unit}{ratio}" if unit == "ms"
                         else f"{v:.1f}{unit}{ratio}")
        lines.append(f"{label:36}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="core address; default: start one on port 50090")
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="seconds between stream starts (0 = all start together: the worst case)")
    parser.add_argument("--pause", type=float, default=1.2,
                        help="seconds of silence between the sentences; 2 makes each sentence a turn of "
                             "its own for --segmentation accurate (1.5 s pauses), which merges them at 1.2")
    parser.add_argument("--core-args", default="", help="extra flags for the core started here")
    parser.add_argument("--versus", action="append", default=[], metavar="CORE_ARGS",
                        help="also measure a core started with these flags instead, one after the other, and "
                             "print the figures side by side with ratios to the first (repeatable), e.g. "
                             "--versus '--final-window trimmed'")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="first measure a core started from this other checkout (e.g. a git worktree of the "
                             "commit before a change) with --baseline-args, then the configurations above")
    parser.add_argument("--baseline-args", default="", help="flags for the --baseline-tree core")
    args = parser.parse_args()
    if (args.versus or args.baseline_tree) and args.server:
        parser.error("--versus and --baseline-tree start their own cores: leave out --server")
    configs, results = [], []
    if args.baseline_tree:  # first: a core that cannot start fails the run before the others
        configs.append(f"{args.baseline_tree} {args.baseline_args}".strip())
        results.append(measure(args, args.baseline_args, tree=args.baseline_tree))
    for core_args in [args.core_args] + args.versus:
        configs.append(core_args)
        results.append(measure(args, core_args))
    res = results[0]
    rt, fast = res["realtime"], res["fast"]
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    print(f"core latency, {args.streams} stream(s) x {args.runs} run(s), {res['audio_seconds']:.1f} s of speech each "
          f"({args.pause:g} s pauses), starts {args.stagger:.2f} s apart")
    pause = f"-pause{args.pause:g}" if args.pause != 1.2 else ""
    if len(configs) > 1:
        print(side_by_side([c or "(defaults)" for c in configs], results))
        slug = re.sub(r"[^a-z0-9]+", "-", " ".join(configs[1:]).lower()).strip("-")[:60] or "defaults"
        print(f"  saved {save(f'latency-versus-{args.streams}{pause}-{slug}', {'configs': configs, 'results': results})}")
        return
    print(f"  final latency        p50 {ms(rt['final_latency']['p50'])}  p95 {ms(rt['final_latency']['p95'])}  "
          f"(n={rt['final_latency']['n']})")
    print(f"  first-partial latency p50 {ms(rt['first_partial_latency']['p50'])}  "
          f"p95 {ms(rt['first_partial_latency']['p95'])}")
    print(f"  worst stream WER {rt['wer_max']:.3f}")
    if "cpu_per_audio_second" in rt:
        print(f"  core CPU per audio second (real time) {rt['cpu_per_audio_second']:.3f} s")
    print(f"  as fast as possible: {fast['wall_seconds']:.2f} s for {res['audio_seconds']:.1f} s audio "
          f"-> RTF {fast['rtf']:.3f} ({fast['x_realtime']:.1f}x real time), WER {fast['wer']:.3f}")
    print(f"  saved {save(f'latency-{args.streams}{pause}' + (f'-stagger{args.stagger:g}' if args.stagger else ''), res)}")


if __name__ == "__main__":
    main()
