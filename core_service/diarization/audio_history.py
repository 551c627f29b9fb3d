"""The last seconds of a session's audio, read back by stream time."""
from __future__ import annotations

import numpy as np

from ..engines.base import SAMPLE_RATE


class AudioHistory:
    """16 kHz mono samples of the last `keep_seconds` (older audio is dropped in whole chunks)."""

    def __init__(self, keep_seconds: float):
        self.keep = int(keep_seconds * SAMPLE_RATE)
        self._chunks: list[np.ndarray] = []
        self._first = 0  # sample index of the first kept sample
        self._held = 0

    @property
    def start(self) -> float:
        """Time of the oldest sample still held."""
        return self._first / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self._first + self._held) / SAMPLE_RATE

    def append(self, samples: np.ndarray) -> None:
        if not samples.size:
            return
        self._chunks.append(samples.astype(np.float32, copy=False))
        self._held += len(samples)
        while self._held - len(self._chunks[0]) >= self.keep and len(self._chunks) > 1:
            dropped = self._chunks.pop(0)
            self._first += len(dropped)
            self._held -= len(dropped)

    def span(self, start: float, end: float) -> np.ndarray:
        """The samples from `start` to `end` s that are still held (maybe fewer, maybe none)."""
        a = max(int(round(start * SAMPLE_RATE)), self._first)
        b = min(int(round(end * SAMPLE_RATE)), self._first + self._held)
        if b <= a:
            return np.zeros(0, dtype=np.float32)
        parts, offset = [], self._first
        for chunk in self._chunks:  # only the chunks the span touches are copied
            if offset + len(chunk) > a and offset < b:
                parts.append(chunk[max(a - offset, 0):b - offset])
            offset += len(chunk)
            if offset >= b:
                break
        return np.concatenate(parts)
