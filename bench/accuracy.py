"""Accuracy on real human speech: streaming through the core against offline faster-whisper.

For each recording in tests/fixtures/real/ (and its noisy and reverberant versions, made by
tests/real_speech.py) and each model:
  offline   = faster-whisper on the whole file, its default transcribe() settings, same weights
  realtime  = the core's finals, audio streamed over gRPC in 100 ms messages at real-time pace
  fast      = the same stream sent as fast as possible
  gap       = streaming WER - offline WER, in points (the issue's target: within 1 point)
WER is on lower-cased words without punctuation, with "Mr." and digits spelled out.

    python -m bench.accuracy [--recordings a,b] [--variants clean,noise,reverb] [--models tiny.en,base]
                             [--max-seconds S] [--server HOST:PORT] [--baseline-tree DIR]

With --baseline-tree, the same grid streams first to a core started from that other checkout
(e.g. today's main), then to this tree's, and the pooled rows print side by side: the gap to
offline before and after a change, measured in one sitting.

The table ends with pooled rows per model ("all recordings": every word counted once), the
figure to judge a change by: on one short recording a single word moves WER by 1-2 points.
A quick run (about 1 minute): --variants clean --models tiny.en --max-seconds 12 (the short
recordings). The whole grid (8 recordings, 203 s of speech, x 3 variants x 2 models) takes
about 26 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import time
from dataclasses import asdict, dataclass

from tests.real_speech import (VARIANTS, load, offline_transcript, real_wer, recording_names,
                               reference_words, streamed_transcript, variant)

from .common import save, start_core

log = logging.getLogger("bench.accuracy")
MODELS = ("tiny.en", "base")


@dataclass
class Row:
    recording: str
    variant: str
    model: str
    seconds: float
    words: int  # in the reference transcript, as WER counts them
    offline_wer: float
    realtime_wer: float
    fast_wer: float
    offline_text: str
    realtime_text: str
    fast_text: str

    @property
    def realtime_gap(self) -> float:
        return 100 * (self.realtime_wer - self.offline_wer)

    @property
    def fast_gap(self) -> float:
        return 100 * (self.fast_wer - self.offline_wer)


async def measure(address: str, name: str, variant_name: str, model: str) -> Row:
    recording = load(name)
    audio = variant(recording, variant_name)
    offline = offline_transcript(audio, model)
    realtime = await streamed_transcript(address, audio, model, realtime=True)
    fast = await streamed_transcript(address, audio, model, realtime=False)
    ref = recording.transcript
    row = Row(name, variant_name, model, recording.seconds, reference_words(ref), real_wer(ref, offline),
              real_wer(ref, realtime),
              real_wer(ref, fast), offline, realtime, fast)
    log.info("%s/%s %s: offline %.1f%%, realtime %.1f%%, fast %.1f%%", name, variant_name, model,
             100 * row.offline_wer, 100 * row.realtime_wer, 100 * row.fast_wer)
    return row


def pooled(rows: list[Row], recording: str, variant_name: str) -> Row:
    """One row for several: every word of every recording counted once (errors / words), so a
    word in a short clip weighs what a word in a long passage does."""
    words = sum(r.words for r in rows)

    def rate(wer_of) -> float:
        return sum(wer_of(r) * r.words for r in rows) / words

    return Row(recording, variant_name, rows[0].model, sum(r.seconds for r in rows), words,
               rate(lambda r: r.offline_wer), rate(lambda r: r.realtime_wer), rate(lambda r: r.fast_wer), "", "", "")


def totals(rows: list[Row]) -> list[Row]:
    """Per model: every recording pooled per variant, then everything pooled."""
    out: list[Row] = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        for v in dict.fromkeys(r.variant for r in mine):
            out.append(pooled([r for r in mine if r.variant == v], "all recordings", v))
        out.append(pooled(mine, "all recordings", "all variants"))
    return out


def table(rows: list[Row]) -> str:
    lines = ["| recording | variant | model | audio | words | offline WER | real-time WER | gap | fast WER | gap |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in [*rows, *totals(rows)]:
        lines.append(f"| {r.recording} | {r.variant} | {r.model} | {r.seconds:.1f} s | {r.words} | "
                     f"{100 * r.offline_wer:.1f}% | {100 * r.realtime_wer:.1f}% | {r.realtime_gap:+.1f} | "
                     f"{100 * r.fast_wer:.1f}% | {r.fast_gap:+.1f} |")
    return "\n".join(lines)


def _names(value: str, allowed: list[str] | tuple[str, ...], what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", default=",".join(recording_names()))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--max-seconds", type=float, default=0.0,
                        help="leave out recordings longer than this (0 = no limit), to bound a run's time")
    parser.add_argument("--server", help="core address; default: start one on port 50091")
    parser.add_argument("--core-args", default="", help="extra flags for the core started here")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="first stream the grid to a core started from this other checkout (with --core-args)")
    args = parser.parse_args()
    if args.baseline_tree and args.server:
        parser.error("--baseline-tree starts its own cores: leave out --server")
    recordings = _names(args.recordings, recording_names(), "recording")
    variants = _names(args.variants, list(VARIANTS), "variant")
    models = _names(args.models, MODELS, "model")
    if args.max_seconds:
        too_long = [n for n in recordings if load(n).seconds > args.max_seconds]
        if too_long:
            log.info("leaving out %s: longer than --max-seconds %g", ", ".join(too_long), args.max_seconds)
        recordings = [n for n in recordings if n not in too_long]
    started = time.monotonic()
    baseline = grid(args, recordings, variants, models, tree=args.baseline_tree) if args.baseline_tree else None
    rows = grid(args, recordings, variants, models)
    print(f"accuracy on real speech: streaming vs offline faster-whisper, {time.monotonic() - started:.0f} s")
    if baseline is not None:
        print(f"[baseline] core from {args.baseline_tree}\n{table(baseline)}\n[this tree]")
    print(table(rows))
    if baseline is not None:
        print(side_by_side(baseline, rows))
    record = {"rows": _rows_json(rows), "totals": _totals_json(rows)}
    if baseline is not None:
        record["baseline"] = {"tree": args.baseline_tree, "rows": _rows_json(baseline), "totals": _totals_json(baseline)}
    print(f"saved {save('accuracy' + ('-versus-baseline' if baseline is not None else ''), record)}")


def grid(args: argparse.Namespace, recordings: list[str], variants: list[str], models: list[str],
         tree: str | None = None) -> list[Row]:
    """Every (model, recording, variant) through one core: --server, or one started here (from
    the checkout `tree`, when given)."""
    proc = None
    address = args.server
    if not address:
        proc = start_core(50091, *args.core_args.split(), tree=tree)
        address = "127.0.0.1:50091"
    try:
        return [asyncio.run(measure(address, name, v, model))
                for model in models for name in recordings for v in variants]
    finally:
        if proc:
            proc.terminate()
            proc.wait()


def side_by_side(baseline: list[Row], rows: list[Row]) -> str:
    """The pooled rows' real-time and fast gaps to offline, baseline against this tree."""
    lines = ["| model | variant | gap real-time: baseline | this tree | gap fast: baseline | this tree |",
             "|---|---|---|---|---|---|"]
    for before, after in zip(totals(baseline), totals(rows)):
        lines.append(f"| {after.model} | {after.variant} | {before.realtime_gap:+.1f} | {after.realtime_gap:+.1f} | "
                     f"{before.fast_gap:+.1f} | {after.fast_gap:+.1f} |")
    return "\n".join(lines)


def _rows_json(rows: list[Row]) -> list[dict]:
    return [{**asdict(r), "realtime_gap": r.realtime_gap, "fast_gap": r.fast_gap} for r in rows]


def _totals_json(rows: list[Row]) -> list[dict]:
    return [{k: v for k, v in asdict(r).items() if not k.endswith("_text")}
            | {"realtime_gap": r.realtime_gap, "fast_gap": r.fast_gap} for r in totals(rows)]


if __name__ == "__main__":
    main()
