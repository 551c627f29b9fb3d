"""Shared pieces of the benchmarks: the test speech, a local core, percentiles, result files."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, UTTERANCES, with_pauses

RESULTS = Path(__file__).parent / "results"

# Ten utterances with 1.2 s pauses (~44 s of audio): the workload of every latency benchmark.
SENTENCES = tuple(s.strip() + "." for s in PARAGRAPH.split(".") if s.strip()) + UTTERANCES + (
    "I would like to book a table for two people at seven o'clock tonight.",
    "The library closes early on public holidays.",
    "Remember to water the plants before you leave.",
)


@dataclass
class Workload:
    audio: np.ndarray
    spans: list[tuple[float, float]]
    texts: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def workload(pause: float = 1.2, sentences: int = 0) -> Workload:
    """The ten sentences with `pause` seconds between them (the first `sentences` only, when set:
    a short smoke run)."""
    texts = SENTENCES[:sentences] if sentences else SENTENCES
    audio, spans = with_pauses(texts, pause=pause)
    return Workload(audio, spans, texts)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.array(values), q))


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95),
            "mean": statistics.fmean(values) if values else float("nan")}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    data = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def start_core(port: int, *args: str, tree: str | None = None) -> subprocess.Popen:
    """A core on 127.0.0.1:`port`, from this checkout or from the source tree `tree` (another
    checkout of the project: what a change is measured against)."""
    import sys

    from tests.conftest import wait_for_health

    proc = subprocess.Popen([sys.executable, "-m", "core_service", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "WARNING", *args], cwd=tree)
    wait_for_health(f"127.0.0.1:{port}", proc=proc)
    return proc
