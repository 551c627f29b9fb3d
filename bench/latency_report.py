"""bench.latency's printouts: one table per load (configurations side by side, ratios to the
first) and a text chart of final latency against the number of streams."""
from __future__ import annotations

import math
from typing import Callable

Figure = tuple[str, Callable[[dict], float], str]


def _get(*keys: str, scale: float = 1.0) -> Callable[[dict], float]:
    def get(result: dict) -> float:
        value = result
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return float("nan")
            value = value[key]
        return float(value) * scale
    return get


FIGURES: tuple[Figure, ...] = (
    ("final latency p50", _get("realtime", "final_latency", "p50", scale=1000), "ms"),
    ("final latency p95", _get("realtime", "final_latency", "p95", scale=1000), "ms"),
    ("partial lag p50", _get("realtime", "partial_lag", "p50", scale=1000), "ms"),
    ("partial lag p95", _get("realtime", "partial_lag", "p95", scale=1000), "ms"),
    ("partial interval p50", _get("realtime", "partial_interval", "p50", scale=1000), "ms"),
    ("partial interval p95", _get("realtime", "partial_interval", "p95", scale=1000), "ms"),
    ("first-partial latency p50", _get("realtime", "first_partial_latency", "p50", scale=1000), "ms"),
    ("streams refused", _get("realtime", "refused"), "n"),
    ("utterances without a final", _get("realtime", "utterances_without_final"), "n"),
    ("worst stream WER (real time)", _get("realtime", "wer_max", scale=100), "%"),
    ("mean stream WER (real time)", _get("realtime", "wer_mean", scale=100), "%"),
    ("core CPU s per audio s (real time)", _get("realtime", "cpu_per_audio_second"), ""),
    ("as fast as possible: RTF", _get("fast", "rtf"), ""),
    ("as fast as possible: WER", _get("fast", "wer", scale=100), "%"),
)


def cell_header(streams: int, stagger: float, runs: int, audio_seconds: float, pause: float) -> str:
    start = "lockstep (all together)" if not stagger else f"staggered {stagger:.2f} s apart"
    return (f"\ncore latency, {streams} stream(s) {start} x {runs} run(s), {audio_seconds:.1f} s of speech each "
            f"({pause:g} s pauses)")


def _cell(value: float, unit: str, first: float, ratio: bool) -> str:
    if math.isnan(value):
        return "-"
    text = {"ms": f"{value:.0f} ms", "%": f"{value:.1f}%", "n": f"{value:.0f}"}.get(unit, f"{value:.3f}")
    if ratio and first and not math.isnan(first) and unit != "n":
        text += f" ({value / first:.2f}x)"
    return text


def side_by_side(names: list[str], results: list[dict]) -> str:
    """One row per figure, one column per configuration, and each one's ratio to the first."""
    lines = [f"  [{chr(65 + i)}] {n}" for i, n in enumerate(names)]
    lines.append(f"{'figure':36}" + "".join(f"{'[' + chr(65 + i) + ']':>24}" for i in range(len(names))))
    for label, get, unit in FIGURES:
        values = [get(r) for r in results]
        lines.append(f"{label:36}" + "".join(f"{_cell(v, unit, values[0], i > 0):>24}" for i, v in enumerate(values)))
    return "\n".join(lines)


def latency_chart(names: list[str], cells: list[dict], width: int = 50) -> str:
    """Final latency p50 (o) to p95 (-) against streams, one bar per configuration and load, on
    one scale (a * marks a p95 past the right edge, which is the largest p95 or 10 s)."""
    p95 = [r["realtime"]["final_latency"]["p95"] for c in cells for r in c["results"]]
    top = min(max([v for v in p95 if not math.isnan(v)], default=1.0), 10.0) or 1.0
    lines = [f"final latency against streams: o = p50, -- up to p95; full width = {top:.2f} s"]
    for i, name in enumerate(names):
        lines.append(f"  [{chr(65 + i)}] {name}")
    for cell in cells:
        start = "lockstep" if not cell["stagger"] else f"stagger {cell['stagger']:g} s"
        for i, r in enumerate(cell["results"]):
            lat, refused = r["realtime"]["final_latency"], r["realtime"]["refused"]
            label = f"{cell['streams']:>3} streams {start:14} [{chr(65 + i)}]"
            if math.isnan(lat["p50"]):
                lines.append(f"{label} (no finals)")
                continue
            p50 = min(width, round(lat["p50"] / top * width))
            end = min(width, round(lat["p95"] / top * width))
            bar = " " * p50 + "o" + "-" * max(0, end - p50 - 1) + ("*" if lat["p95"] > top else "")
            note = f" {lat['p50']:.2f}/{lat['p95']:.2f} s" + (f", {refused} refused" if refused else "")
            lines.append(f"{label} |{bar:<{width + 1}}|{note}")
    return "\n".join(lines)
