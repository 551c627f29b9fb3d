"""Diarization error rate: (missed speech + false alarm + speaker confusion) / reference speech.

The NIST definition, scored on a 10 ms grid: a `collar` (0.25 s) either side of every reference
segment boundary is not scored; the hypothesis labels are mapped onto the reference labels one
to one so as to minimise confusion (scipy's `linear_sum_assignment` over the overlap matrix).
Overlapping reference speech counts once per speaker (a frame with two speakers and one
hypothesis speaker scores one missed speaker). Used by tests/core/test_diarization.py and
bench/diarization.py; tests/test_der.py holds it to hand-computed cases.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP = 0.01  # seconds per scored frame
COLLAR = 0.25


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    speaker: str | int


@dataclass(frozen=True)
class Der:
    missed: float  # seconds
    false_alarm: float
    confusion: float
    total: float  # scored reference speech, seconds

    @property
    def rate(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / self.total if self.total else 0.0


def _grid(segments: list[Segment], labels: list, frames: int) -> np.ndarray:
    """[len(labels), frames] bool: who speaks in each frame."""
    out = np.zeros((len(labels), frames), dtype=bool)
    for s in segments:
        out[labels.index(s.speaker), int(round(s.start / STEP)):int(round(s.end / STEP))] = True
    return out


def der(reference: list[Segment], hypothesis: list[Segment], collar: float = COLLAR) -> Der:
    from scipy.optimize import linear_sum_assignment

    end = max([s.end for s in reference + hypothesis], default=0.0)
    frames = int(np.ceil(end / STEP)) + 1
    ref_labels = sorted({s.speaker for s in reference}, key=str)
    hyp_labels = sorted({s.speaker for s in hypothesis}, key=str)
    ref, hyp = _grid(reference, ref_labels, frames), _grid(hypothesis, hyp_labels, frames)
    scored = np.ones(frames, dtype=bool)
    c = int(round(collar / STEP))
    for s in reference:
        for t in (s.start, s.end):
            i = int(round(t / STEP))
            scored[max(0, i - c):i + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    # correctly attributed frames under the best one-to-one mapping of labels
    overlap = (ref[:, None, :] & hyp[None, :, :]).sum(axis=2) if len(ref_labels) and len(hyp_labels) else np.zeros((0, 0))
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    correct = float(overlap[rows, cols].sum()) if overlap.size else 0.0
    missed = float(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = float(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = float(np.minimum(n_ref, n_hyp).sum()) - correct
    return Der(missed * STEP, false_alarm * STEP, confusion * STEP, float(n_ref.sum()) * STEP)


FILL = 1.0  # a pause this short between two words of one speaker is scored as that speaker's speech


def segments_from_words(words: list[tuple[float, float, int]], fill: float = FILL) -> list[Segment]:
    """Hypothesis segments from (start, end, speaker) words in time order: consecutive words of
    one speaker joined across pauses up to `fill` (the reference counts a turn's own pauses as
    speech); words of speaker 0 (unknown) are left out."""
    out: list[Segment] = []
    for start, end, speaker in words:
        if not speaker:
            continue
        if out and out[-1].speaker == speaker and start - out[-1].end <= fill:
            out[-1] = Segment(out[-1].start, max(out[-1].end, end), speaker)
        else:
            out.append(Segment(start, end, speaker))
    return out
