"""Where speech begins and ends, from the VAD's speech probabilities (one per 32 ms frame)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engines.base import VadSettings
from ..vad import FRAME_SECONDS


@dataclass
class Boundary:
    kind: str  # "begin" | "end"
    time: float  # seconds from stream start


class Endpointer:
    """Hysteresis on speech probabilities: begin when p >= threshold, end after
    `min_silence` seconds with p < threshold - 0.15. Times are padded so that the utterance
    audio includes the soft edges of the words."""

    PAD = 0.2  # seconds kept before the first and after the last speech frame
    MIN_SPEECH = 0.25  # shorter bursts are dropped as noise

    def __init__(self, settings: VadSettings):
        self.settings = settings
        self.in_speech = False
        self.speech_start = 0.0
        self.last_speech = 0.0
        self.t = 0.0  # end time of the last frame seen
        self.voiced = 0.0  # seconds of confident speech in the open utterance

    def update(self, probs: np.ndarray) -> list[Boundary]:
        out: list[Boundary] = []
        hi = self.settings.threshold
        lo = max(hi - 0.15, 0.01)
        for p in probs:
            start = self.t
            self.t += FRAME_SECONDS
            if not self.in_speech:
                if p >= hi:
                    self.in_speech = True
                    self.speech_start = max(0.0, start - self.PAD)
                    self.last_speech = self.t
                    self.voiced = FRAME_SECONDS
                    out.append(Boundary("begin", self.speech_start))
            else:
                if p >= lo:
                    self.last_speech = self.t
                    if p >= hi:
                        self.voiced += FRAME_SECONDS
                elif self.t - self.last_speech >= self.settings.min_silence:
                    self.in_speech = False
                    out.append(Boundary("end", min(self.t, self.last_speech + self.PAD)))
        return out

    def utterance_is_noise(self) -> bool:
        return self.voiced < self.MIN_SPEECH

    def silence_so_far(self) -> float:
        """Seconds of trailing silence in the open utterance (0 when not in speech)."""
        return self.t - self.last_speech if self.in_speech else 0.0

    def force_end(self) -> Boundary:
        """End the open utterance now (an early endpoint decided by the caller)."""
        self.in_speech = False
        return Boundary("end", min(self.t, self.last_speech + self.PAD))
