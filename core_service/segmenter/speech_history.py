"""The VAD's speech probabilities over the audio a session still holds, queried by time.

The re-decode strategy asks three questions of it, each answered from the VAD alone so that the
answer never depends on how fast decodes come back:
- how much confident speech lies in a span (is this utterance speech, or a burst of noise?);
- where the last voiced frame before a time ends (trim trailing silence off a clip);
- where the best pause in a span is (cut an over-long utterance between words, not inside one).
"""
from __future__ import annotations

import numpy as np

from ..vad import FRAME_SECONDS


class SpeechHistory:
    def __init__(self) -> None:
        self._probs = np.zeros(0, dtype=np.float32)
        self._first = 0  # frame index of _probs[0]

    @property
    def end(self) -> float:
        """End time of the last frame seen."""
        return (self._first + len(self._probs)) * FRAME_SECONDS

    def extend(self, probs: np.ndarray) -> None:
        if len(probs):
            self._probs = np.concatenate([self._probs, probs.astype(np.float32, copy=False)])

    def forget_before(self, t: float) -> None:
        """Drop frames that end before `t` (in whole seconds' worth, to avoid copying often)."""
        cut = int(t / FRAME_SECONDS) - self._first
        if cut > int(1.0 / FRAME_SECONDS):
            self._probs = self._probs[cut:]
            self._first += cut

    def _span(self, start: float, end: float) -> tuple[int, np.ndarray]:
        a = max(int(round(start / FRAME_SECONDS)) - self._first, 0)
        b = max(min(int(round(end / FRAME_SECONDS)) - self._first, len(self._probs)), a)
        return a, self._probs[a:b]

    def voiced(self, start: float, end: float, threshold: float) -> float:
        """Seconds of frames in [start, end) whose speech probability reaches `threshold`."""
        _, probs = self._span(start, end)
        return float(np.count_nonzero(probs >= threshold)) * FRAME_SECONDS

    def last_voice_end(self, start: float, end: float, threshold: float) -> float | None:
        """End time of the last frame in [start, end) at or above `threshold` (None: no such frame)."""
        a, probs = self._span(start, end)
        hits = np.flatnonzero(probs >= threshold)
        if not len(hits):
            return None
        return (self._first + a + int(hits[-1]) + 1) * FRAME_SECONDS

    def best_pause(self, start: float, end: float, threshold: float, min_frames: int = 2) -> float | None:
        """The middle of the longest run (the latest of equals) of at least `min_frames` frames
        below `threshold` in [start, end): where to cut speech that has to be split. None when
        there is no pause."""
        a, probs = self._span(start, end)
        quiet = probs < threshold
        best: tuple[int, int] | None = None
        run_start = None
        for i, q in enumerate(quiet):
            if q and run_start is None:
                run_start = i
            if (not q or i == len(quiet) - 1) and run_start is not None:
                run_end = i + 1 if q else i
                if run_end - run_start >= min_frames and (best is None or run_end - run_start >= best[1] - best[0]):
                    best = (run_start, run_end)
                run_start = None
        if best is None:
            return None
        middle = (best[0] + best[1]) / 2
        return (self._first + a + middle) * FRAME_SECONDS

    def pauses(self, start: float, end: float, threshold: float, min_seconds: float) -> list[tuple[float, float | None]]:
        """Every pause of at least `min_seconds` after voice in [start, end): (where the voice
        stopped, where it resumed, or None while the pause goes on). Voice is a frame at or
        above `threshold`."""
        a, probs = self._span(start, end)
        voiced = np.flatnonzero(probs >= threshold)
        out: list[tuple[float, float | None]] = []
        min_frames = min_seconds / FRAME_SECONDS - 1e-9
        for prev, nxt in zip(voiced, voiced[1:]):
            if nxt - prev - 1 >= min_frames:
                out.append(((self._first + a + prev + 1) * FRAME_SECONDS, (self._first + a + nxt) * FRAME_SECONDS))
        if len(voiced) and len(probs) - voiced[-1] - 1 >= min_frames:
            out.append(((self._first + a + voiced[-1] + 1) * FRAME_SECONDS, None))
        return out

    def onset(self, t: float, threshold: float) -> float:
        """Where the run of frames at or above `threshold` that holds time `t` began: the soft
        start of the speech the VAD became sure of at `t`."""
        i = int(t / FRAME_SECONDS) - self._first
        if not 0 <= i < len(self._probs):
            return t
        while i > 0 and self._probs[i - 1] >= threshold:
            i -= 1
        return (self._first + i) * FRAME_SECONDS
