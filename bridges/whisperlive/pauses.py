"""Segmenting without VAD (`use_vad: false`): end segments at pauses and by length, from the
audio level alone (pure, no I/O).

With `use_vad: false` the reference server still commits segments as it goes; it only stops
gating silence away from the decoder. The core's VAD switch does both, so with VAD off the
core keeps one utterance open (committing a prefix only past `--max-utterance`). This decides
where the open segment should end; the codec then asks the core to finalize it. Silence still
reaches the decoder, as in the reference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class PauseRules:
    frame_seconds: float = 0.1
    silence_rms: float = 0.01  # a frame below this level (-40 dBFS) is a pause frame
    min_pause_seconds: float = 0.6  # a pause this long after speech ends the segment
    soft_max_seconds: float = 10.0  # past this, the next quiet frame ends the segment
    quiet_rms: float = 0.03  # "quiet" for the length rule: between words, not a real pause


class PauseSegmenter:
    """Feed 16 kHz float32 samples; `feed` says how many segment ends fell in them."""

    def __init__(self, rules: PauseRules = PauseRules()) -> None:
        self.rules = rules
        self._frame = int(rules.frame_seconds * SAMPLE_RATE)
        self._rest = np.zeros(0, np.float32)
        self._since_cut = 0.0
        self._pause = 0.0
        self._voiced = False

    def feed(self, samples: np.ndarray) -> int:
        data = np.concatenate([self._rest, samples.astype(np.float32, copy=False)])
        whole = len(data) - len(data) % self._frame
        self._rest = data[whole:]
        cuts = 0
        for frame in data[:whole].reshape(-1, self._frame):
            rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
            self._since_cut += self.rules.frame_seconds
            if rms < self.rules.silence_rms:
                self._pause += self.rules.frame_seconds
            else:
                self._pause, self._voiced = 0.0, True
            paused = self._pause >= self.rules.min_pause_seconds - 1e-9
            too_long = self._since_cut >= self.rules.soft_max_seconds and rms < self.rules.quiet_rms
            if self._voiced and (paused or too_long):
                cuts += 1
                self._since_cut, self._pause, self._voiced = 0.0, 0.0, False
        return cuts


def to_float32(data: bytes, audio_format: str) -> np.ndarray:
    """Client audio bytes (float32, int16 or uint8 samples) as float32 in [-1, 1]."""
    if audio_format == "float32":
        return np.frombuffer(data, "<f4")
    if audio_format == "int16":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    return (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0


def uint8_to_int16(data: bytes) -> bytes:
    """8-bit unsigned PCM (128 = silence), as WAV stores it, widened to 16-bit signed."""
    return ((np.frombuffer(data, np.uint8).astype(np.int16) - 128) << 8).astype("<i2").tobytes()
