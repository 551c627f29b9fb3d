"""Client audio to engine audio: decode the configured sample format, downmix, resample to 16 kHz.

Raw samples (LINEAR16, FLOAT32, INT32) and G.711 (MULAW, ALAW: 256-entry lookup tables) are
decoded here; compressed streams (FLAC, MP3, Opus, AUTO) in `container_audio`, which hands its
frames to an `AudioDecoder` for the same downmix and soxr resampling.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import soxr

from .engines.base import SAMPLE_RATE

_SAMPLE = {  # encoding -> (numpy dtype, scale to [-1, 1])
    "LINEAR16": ("<i2", 1 / 32768.0),
    "FLOAT32": ("<f4", 1.0),
    "INT32": ("<i4", 1 / 2147483648.0),
    "MULAW": ("u1", 1.0),  # through _G711 below
    "ALAW": ("u1", 1.0),
}


def _mulaw_table() -> np.ndarray:
    """ITU-T G.711 μ-law: each of the 256 codes as a float in [-1, 1]."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 7, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(u & 0x80, -magnitude, magnitude) / 32768.0).astype(np.float32)


def _alaw_table() -> np.ndarray:
    """ITU-T G.711 A-law: each of the 256 codes as a float in [-1, 1]."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (a >> 4) & 7, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return (np.where(a & 0x80, magnitude, -magnitude) / 32768.0).astype(np.float32)


_G711 = {"MULAW": _mulaw_table(), "ALAW": _alaw_table()}


class AudioFormatError(ValueError):
    """Audio bytes that do not fit the configured format."""


class AudioDecoder:
    """Bytes in the client's format to 16 kHz float32: mono (channels averaged), or with
    `separate` one row per channel, shape (channels, samples)."""

    def __init__(self, encoding: str, sample_rate: int, channels: int, separate: bool = False):
        if encoding not in _SAMPLE:
            raise ValueError(f"unsupported encoding {encoding}")
        self.dtype, self.scale = _SAMPLE[encoding]
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.channels = channels
        self.bytes_per_frame = np.dtype(self.dtype).itemsize * channels
        self.frames_in = 0
        self.separate = separate and channels > 1
        self._out_channels = channels if self.separate else 1
        self._resampler = (soxr.ResampleStream(sample_rate, SAMPLE_RATE, self._out_channels, dtype="float32",
                                               quality="HQ")
                           if sample_rate != SAMPLE_RATE else None)

    def decode(self, data: bytes) -> np.ndarray:
        if len(data) % self.bytes_per_frame:
            raise AudioFormatError(
                f"audio message of {len(data)} bytes is not a whole number of {self.encoding} frames "
                f"({self.bytes_per_frame} bytes per frame for {self.channels} channel(s)); send complete samples")
        raw = np.frombuffer(data, dtype=self.dtype)
        table = _G711.get(self.encoding)
        samples = table[raw] if table is not None else raw.astype(np.float32) * np.float32(self.scale)
        if self.encoding == "FLOAT32" and not np.all(np.isfinite(samples)):
            raise AudioFormatError("FLOAT32 audio contains NaN or infinity")
        if self.separate:
            samples = samples.reshape(-1, self.channels)  # (frames, channels), as soxr takes them
        elif self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1)
        self.frames_in += len(samples)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return self._out(np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False))

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return self._out(np.zeros((0, self._out_channels) if self.separate else 0, dtype=np.float32))
        empty = np.zeros((0, self._out_channels) if self.separate else 0, dtype=np.float32)
        return self._out(self._resampler.resample_chunk(empty, last=True).astype(np.float32))

    # The session's interface, shared with container_audio.ContainerDecoder (which decodes in a thread).
    async def pieces(self, data: bytes) -> AsyncIterator[np.ndarray]:
        yield self.decode(data)

    async def finish(self) -> AsyncIterator[np.ndarray]:
        yield self.flush()

    def close(self) -> None:
        pass

    def _out(self, samples: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(samples.T) if self.separate else samples

    @property
    def seconds_in(self) -> float:
        return self.frames_in / self.sample_rate
