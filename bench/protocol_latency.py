"""Latency through each protocol bridge at real time, beside the core's own figures (issues 26,
27, 29): the hop cost of every bridge where users feel it.

One core; each bridge a subprocess against it. bench.latency's workload (the same ten sentences,
1.2 s pauses) streams at real time in 100 ms chunks, one stream at a time, through: gRPC directly
(the core's own figure), the deepgram live WebSocket, vosk, wyoming and google_speech
StreamingRecognize. The paths take turns in blocks (one stream each per run, the order rotated
every run), so load on the machine falls on all alike. For each utterance, as bench.latency:

  final latency   = arrival of the last final covering it - send time of the chunk holding its last audio
  partial latency = arrival of its first partial - send time of the chunk holding its first audio

"Covering": the final's audio times overlap the utterance (gRPC offsets, Deepgram start/duration,
Vosk and Google word times); Wyoming's transcript-chunks carry no times, so their words are
aligned to the sentences' words instead. Deepgram adds `speech_final` (the end of the turn) and
the first `is_final`. "hop" is the path's final p50 minus gRPC direct's, from the same run.

    python -m bench.protocol_latency [--runs 3] [--only deepgram,vosk] [--sentences K]
"""
from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import math
import re
import subprocess
from dataclasses import dataclass, field

from tests.audio_fixtures import to_pcm16, wer
from tests.conftest import free_port

from . import protocol_clients as clients
from .bridge_overhead import start_bridge
from .common import Workload, save, start_core, summary, workload

log = logging.getLogger("bench.protocol_latency")
STREAM_GRACE = 120.0  # seconds a stream may take past its audio before it counts as hung


@dataclass(frozen=True)
class Path:
    name: str
    client: clients.Client
    bridge: str | None = None  # `python -m bridges.<bridge>`; None: the core itself


PATHS = (
    Path("grpc", clients.grpc_direct),
    Path("deepgram", clients.deepgram, bridge="deepgram"),
    Path("vosk", clients.vosk, bridge="vosk"),
    Path("wyoming", clients.wyoming, bridge="wyoming"),
    Path("google_speech", clients.google_speech, bridge="google_speech"),
    Path("openai", clients.openai_realtime, bridge="openai"),
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _by_text(finals: list[clients.Arrival], wl: Workload) -> list[list[int]]:
    """For each sentence, the indices of the finals holding its words (difflib alignment of the
    finals' words to the sentences' words): for protocols whose finals carry no times."""
    ref = [(u, w) for u, text in enumerate(wl.texts) for w in _words(text)]
    hyp = [(i, w) for i, f in enumerate(finals) for w in _words(f.text)]
    matcher = difflib.SequenceMatcher(a=[w for _, w in ref], b=[w for _, w in hyp], autojunk=False)
    holders: list[list[int]] = [[] for _ in wl.texts]
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            holders[ref[block.a + k][0]].append(hyp[block.b + k][0])
    return holders


def _overlapping(arrivals: list[clients.Arrival], start: float, end: float) -> list[int]:
    return [i for i, a in enumerate(arrivals) if a.start is not None and a.end is not None
            and a.start < end and a.end > start]


@dataclass
class Figures:
    final: list[float] = field(default_factory=list)
    partial: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)
    wers: list[float] = field(default_factory=list)
    missing: int = 0  # utterances without a final

    def add(self, wl: Workload, pacer: clients.Pacer, arrivals: list[clients.Arrival]) -> None:
        finals = [a for a in arrivals if a.final]
        timed = all(f.start is not None for f in finals)
        holders = [_overlapping(finals, s, e) for s, e in wl.spans] if timed else _by_text(finals, wl)
        for (start, end), held in zip(wl.spans, holders):
            if not held:
                self.missing += 1
                continue
            last = pacer.chunk_time(end)
            self.final.append(finals[max(held)].t - last)
            if any(f.speech_final for f in finals):
                self.extra.setdefault("first is_final", []).append(finals[min(held)].t - last)
                turn = [i for i in held if finals[i].speech_final] or [
                    i for i, f in enumerate(finals) if f.speech_final and i > max(held)][:1]
                if turn:
                    self.extra.setdefault("speech_final", []).append(finals[turn[-1]].t - last)
        nexts = [s for s, _ in wl.spans[1:]] + [math.inf]
        for (start, _), following in zip(wl.spans, nexts):
            first = next((a for a in arrivals
                          if not a.final and a.end is not None and start < a.end <= following), None)
            if first is not None:
                self.partial.append(first.t - pacer.chunk_time(start))
        self.wers.append(wer(" ".join(wl.texts), " ".join(f.text for f in finals)))


async def stream(path: Path, port: int, wl: Workload) -> tuple[clients.Pacer, list[clients.Arrival]]:
    pacer = clients.Pacer(to_pcm16(wl.audio))
    arrivals = await asyncio.wait_for(path.client(port, pacer), wl.seconds + STREAM_GRACE)
    return pacer, arrivals


def measure(paths: list[Path], ports: dict[str, int], wl: Workload, runs: int) -> dict[str, Figures]:
    """A first sentence through every path, not counted (the core's first decodes and each
    bridge's first session are slower), then `runs` blocks of one stream per path."""
    for path in paths:
        log.info("warm-up: %s", path.name)
        asyncio.run(stream(path, ports[path.name], workload(sentences=1)))
    figures = {p.name: Figures() for p in paths}
    for run in range(runs):
        order = paths[run % len(paths):] + paths[:run % len(paths)]
        for path in order:
            log.info("run %d/%d: %s", run + 1, runs, path.name)
            pacer, arrivals = asyncio.run(stream(path, ports[path.name], wl))
            figures[path.name].add(wl, pacer, arrivals)
    return figures


def report(figures: dict[str, Figures], runs: int, wl: Workload) -> dict:
    base = summary(figures["grpc"].final)["p50"] if "grpc" in figures else float("nan")
    print(f"\nlatency through each protocol at real time, {runs} run(s) of {wl.seconds:.1f} s "
          f"({len(wl.texts)} utterances), one stream at a time, paths in alternating blocks")
    print(f"  {'path':30}{'final p50':>11}{'p95':>9}{'hop p50':>10}{'partial p50':>13}{'WER':>7}{'no final':>10}")
    out: dict = {"runs": runs, "audio_seconds": wl.seconds, "utterances": len(wl.texts), "paths": {}}
    for name, f in figures.items():
        rows = [(name, f.final)] + [(f"{name} {k}", v) for k, v in sorted(f.extra.items())]
        partial = summary(f.partial)
        mean_wer = sum(f.wers) / len(f.wers) if f.wers else float("nan")
        for i, (label, values) in enumerate(rows):
            s = summary(values)
            hop = "" if name == "grpc" else f"{(s['p50'] - base) * 1000:>8.0f}ms"
            tail = f"{_ms(partial['p50']):>13}{mean_wer * 100:>6.1f}%{f.missing:>10}" if i == 0 else ""
            print(f"  {label:30}{_ms(s['p50']):>11}{_ms(s['p95']):>9}{hop:>10}{tail}")
        out["paths"][name] = {
            "final_ms": _scaled(summary(f.final)), "hop_p50_ms": (summary(f.final)["p50"] - base) * 1000,
            "partial_ms": _scaled(partial), "wer_mean": mean_wer, "wer_max": max(f.wers, default=float("nan")),
            "utterances_without_final": f.missing, **{f"{k}_ms": _scaled(summary(v)) for k, v in f.extra.items()}}
    return out


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}ms"


def _scaled(s: dict[str, float]) -> dict[str, float]:
    return {k: (v * 1000 if k != "n" else v) for k, v in s.items()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="streams per path, taken in turns")
    parser.add_argument("--only", default="", help="comma-separated bridges, e.g. deepgram,vosk "
                        f"(of {', '.join(p.name for p in PATHS[1:])}); gRPC direct is always measured")
    parser.add_argument("--sentences", type=int, default=0,
                        help="the workload's first K sentences only (0 = all ten, ~44 s): a smoke run")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {p.name for p in PATHS}
    if unknown:
        parser.error(f"unknown path(s) {', '.join(sorted(unknown))}; choose from {', '.join(p.name for p in PATHS)}")
    paths = [p for p in PATHS if p.bridge is None or not only or p.name in only]
    wl = workload(sentences=args.sentences)
    core_port = free_port()
    core = start_core(core_port)
    bridges: list[subprocess.Popen] = []
    ports = {"grpc": core_port}
    try:
        for p in paths:
            if p.bridge:
                ports[p.name] = free_port()
                bridges.append(start_bridge(p.bridge, ports[p.name], f"127.0.0.1:{core_port}"))
        figures = measure(paths, ports, wl, args.runs)
    finally:
        for proc in [*bridges, core]:
            proc.terminate()
            proc.wait()
    res = report(figures, args.runs, wl)
    suffix = ("-" + "-".join(sorted(only)) if only else "") + (f"-{args.sentences}sentences" if args.sentences else "")
    print(f"  saved {save('protocol_latency' + suffix, res)}")


if __name__ == "__main__":
    main()
