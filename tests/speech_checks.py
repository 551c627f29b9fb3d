"""Checking a stream's finals against what was said, and a busy machine to check them on.

`short_sentences()` is six short sentences with natural pauses, one of them over a noisy line
(the VAD hears it only faintly); `judge()` tells, from the finals' times and texts, which
sentences got no final (lost) and which finals cover no speech or repeat the one before
(invented); `CpuLoad` keeps the cores busy the way competing processes do.
"""
from __future__ import annotations

import multiprocessing
import re
import time
from dataclasses import dataclass, field

import numpy as np

from tests.audio_fixtures import SAMPLE_RATE, noise, silence, speech

SHORT_SENTENCES = ("Ever tried.", "Ever failed.", "No matter.", "Try again.", "Fail again.", "Fail better.")
NOISY_LINE = 0.2  # RMS of the noise under "No matter.": at VAD threshold 0.6 it is a weak utterance


@dataclass
class Recording:
    audio: np.ndarray
    spans: list[tuple[float, float]]
    texts: tuple[str, ...]


def short_sentences(pauses: tuple[float, ...] = (0.55, 0.7, 0.6, 0.8, 0.6), lead: float = 0.4,
                    tail: float = 1.0, noisy: str = "No matter.") -> Recording:
    """The six sentences with uneven pauses (about 9 s); `noisy` is spoken over a noisy line."""
    parts, spans, t = [silence(lead)], [], lead
    for i, text in enumerate(SHORT_SENTENCES):
        clip = speech(text)
        if text == noisy:
            clip = clip + noise(len(clip) / SAMPLE_RATE, NOISY_LINE, seed=3)[:len(clip)]
        spans.append((t, t + len(clip) / SAMPLE_RATE))
        gap = pauses[i] if i < len(pauses) else tail
        parts += [clip, silence(gap)]
        t += len(clip) / SAMPLE_RATE + gap
    return Recording(np.concatenate(parts).astype(np.float32), spans, SHORT_SENTENCES)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)


def judge(recording: Recording, finals: list[tuple[float, float, str]]) -> Verdict:
    """`finals` as (start, end, text). A sentence is lost when no final with text overlaps it;
    a final is invented when it overlaps no sentence, spans no time, or repeats the text of the
    final before it."""
    verdict = Verdict()
    texts = [f for f in finals if f[2].strip()]
    for (a, b), said in zip(recording.spans, recording.texts):
        if not any(s < b and e > a for s, e, _ in texts):
            verdict.lost.append(said)
    previous = None
    for s, e, text in texts:
        if e <= s or not any(s < b and e > a for a, b in recording.spans) or _norm(text) == previous:
            verdict.invented.append(f"{text!r} at {s:.2f}-{e:.2f}")
        previous = _norm(text)
    return verdict


def _spin(until: float) -> None:
    while time.monotonic() < until:
        pass


class CpuLoad:
    """`n` processes spinning on the CPU (for at most `seconds`) while the block runs."""

    def __init__(self, n: int = 2, seconds: float = 600.0):
        ctx = multiprocessing.get_context("spawn")
        self.procs = [ctx.Process(target=_spin, args=(time.monotonic() + seconds,), daemon=True) for _ in range(n)]

    def __enter__(self) -> "CpuLoad":
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.terminate()
            p.join(timeout=10)
