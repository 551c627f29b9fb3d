"""Aggregation, table, ratios and plot of the WhisperLive comparison (bench.whisperlive_compare)."""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .common import summary
from .wl_client import StreamResult

LABELS = {
    "ours": "ours: bridge + core",
    "grpc": "ours: gRPC direct",
    "ref": "whisper-live 0.10.0 (single model)",
    "ref-batch": "whisper-live 0.10.0 (batch)",
    "ours-baseline": "baseline tree: bridge + core",
    "grpc-baseline": "baseline tree: gRPC direct",
}


@dataclass
class RunStats:
    """One configuration at one stream count, pooled over its served streams."""
    config: str
    streams: int
    served: int
    turned_away: dict[str, int]
    final_latency: dict[str, float]
    utterance_latency: dict[str, float]
    partial_lag: dict[str, float]
    wer_mean: float
    wer_max: float
    utterances_missed: int
    cpu_cores: float              # server tree CPU seconds / run wall time (incl. the tail drain)
    cpu_per_audio_second: float   # server tree CPU seconds / audio seconds streamed by served streams
    wall_seconds: float
    notes: list[str] = field(default_factory=list)


def aggregate(config: str, results: list[StreamResult], cpu_seconds: float, wall: float,
              audio_seconds: float) -> RunStats:
    served = [r for r in results if r.served]
    away: dict[str, int] = {}
    for r in results:
        if not r.served:
            away[r.outcome] = away.get(r.outcome, 0) + 1
    wers = [r.wer for r in served if r.wer is not None]
    notes = sorted({f"{r.outcome}: {r.detail}" for r in results if r.detail})[:10]
    return RunStats(
        config=config, streams=len(results), served=len(served), turned_away=away,
        final_latency=summary([x for r in served for x in r.final_latency]),
        utterance_latency=summary([x for r in served for x in r.utterance_latency]),
        partial_lag=summary([x for r in served for x in r.partial_lag]),
        wer_mean=statistics.fmean(wers) if wers else math.nan, wer_max=max(wers) if wers else math.nan,
        utterances_missed=sum(r.utterances_missed for r in served),
        cpu_cores=cpu_seconds / wall if wall > 0 else math.nan,
        cpu_per_audio_second=cpu_seconds / (audio_seconds * len(served)) if served else math.nan,
        wall_seconds=wall, notes=notes,
    )


def _ms(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v * 1000:.0f}"


def table(stats: list[RunStats]) -> str:
    head = (f"{'config':<10} {'n':>3} {'served':>7} {'final p50/p95 ms':>17} {'utt p50/p95 ms':>15} "
            f"{'partial p50/p95 ms':>19} {'WER mean/max':>13} {'missed':>6} {'cores':>6} {'cpu/audio s':>11}")
    rows = [head, "-" * len(head)]
    for s in stats:
        away = ",".join(f"{k}={v}" for k, v in s.turned_away.items())
        served = f"{s.served}/{s.streams}"
        rows.append(
            f"{s.config:<10} {s.streams:>3} {served:>7} "
            f"{_ms(s.final_latency['p50']) + '/' + _ms(s.final_latency['p95']):>17} "
            f"{_ms(s.utterance_latency['p50']) + '/' + _ms(s.utterance_latency['p95']):>15} "
            f"{_ms(s.partial_lag['p50']) + '/' + _ms(s.partial_lag['p95']):>19} "
            f"{s.wer_mean:>6.3f}/{s.wer_max:<6.3f} {s.utterances_missed:>6} {s.cpu_cores:>6.2f} {s.cpu_per_audio_second:>11.3f}"
            + (f"  away: {away}" if away else ""))
    return "\n".join(rows)


def ratios(stats: list[RunStats]) -> list[dict]:
    """reference / ours per stream count (> 1 means ours is faster), and the bridge's share."""
    by = {(s.config, s.streams): s for s in stats}
    out = []
    for n in sorted({s.streams for s in stats}):
        ours, grpc = by.get(("ours", n)), by.get(("grpc", n))
        row: dict = {"streams": n}
        for ref in ("ref", "ref-batch"):
            other = by.get((ref, n))
            if ours and other:
                for metric in ("final_latency", "utterance_latency", "partial_lag"):
                    for q in ("p50", "p95"):
                        a, b = getattr(other, metric)[q], getattr(ours, metric)[q]
                        row[f"{ref}/ours {metric} {q}"] = a / b if b and not math.isnan(a) else math.nan
                for metric in ("cpu_cores", "cpu_per_audio_second"):
                    a, b = getattr(other, metric), getattr(ours, metric)
                    row[f"{ref}/ours {metric}"] = a / b if b and not math.isnan(a) else math.nan
        for config in ("ours-baseline", "grpc-baseline"):  # --baseline-tree: before / after a change
            before, after = by.get((config, n)), by.get((config.removesuffix("-baseline"), n))
            if before and after:
                for metric in ("final_latency", "utterance_latency", "partial_lag"):
                    for q in ("p50", "p95"):
                        a, b = getattr(before, metric)[q], getattr(after, metric)[q]
                        row[f"{config}/{after.config} {metric} {q}"] = a / b if b and not math.isnan(a) else math.nan
        if ours and grpc:
            for q in ("p50", "p95"):
                row[f"bridge share utterance_latency {q} (ours - grpc, s)"] = (
                    ours.utterance_latency[q] - grpc.utterance_latency[q])
        out.append(row)
    return out


def ratio_lines(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        parts = [f"{k} {v:.2f}" for k, v in row.items() if k != "streams" and not math.isnan(v)]
        lines.append(f"n={row['streams']}: " + "; ".join(parts))
    return "\n".join(lines)


def plot(stats: list[RunStats], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), sharey=True)
    panels = [("final_latency", "per completed segment (from its `end`)"),
              ("utterance_latency", "per utterance (from its true end)")]
    colors = {"ours": "tab:blue", "grpc": "tab:cyan", "ref": "tab:red", "ref-batch": "tab:orange",
              "ours-baseline": "tab:gray", "grpc-baseline": "tab:olive"}
    for ax, (metric, subtitle) in zip(axes, panels):
        for config in LABELS:
            rows = sorted((s for s in stats if s.config == config), key=lambda s: s.streams)
            rows = [s for s in rows if not math.isnan(getattr(s, metric)["p50"])]
            if not rows:
                continue
            xs = [s.streams for s in rows]
            ax.plot(xs, [getattr(s, metric)["p50"] for s in rows], "o-", color=colors[config],
                    label=f"{LABELS[config]} p50")
            ax.plot(xs, [getattr(s, metric)["p95"] for s in rows], "s--", color=colors[config], alpha=0.7,
                    label=f"{LABELS[config]} p95")
        ax.set_xscale("log", base=2)
        ax.set_yscale("symlog", linthresh=0.1)  # log above 0.1 s; a negative p50 still plots
        ax.set_xticks(sorted({s.streams for s in stats}), labels=[str(n) for n in sorted({s.streams for s in stats})])
        ax.set_xlabel("concurrent streams")
        ax.set_title(subtitle, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("final latency (s, symlog)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=4)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def to_json(stats: list[RunStats]) -> list[dict]:
    return [asdict(s) for s in stats]
