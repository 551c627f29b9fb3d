"""Audio format detection and normalisation for the funasr dialect (pure functions + one
small stateful normaliser, no I/O).

Clients send base64 audio without saying what it is. `detect_format` tells float32, int16
and int32 apart from the samples themselves; `parse_wav` reads a RIFF/WAVE header when one
is present; `AudioNormalizer` turns any of them into 16 kHz mono float32.

Detection, in order:
- float32: every value finite, |x| <= 2 and (almost) no denormal-tiny values. Integer audio
  read as float32 is full of NaN/inf (small negative samples) or ~1e-38 values (small positive).
- int32: read as int16 words, the low words of int32 audio are either all zero (int16 shifted
  left) or uniform noise (RMS ~18900) uncorrelated with the high words.
- int16 otherwise. All-zero data is undecidable (None): silence is silence in any format.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import soxr

TARGET_RATE = 16000
FORMATS = ("int16", "int32", "float32")
_WIDTH = {"int16": 2, "int32": 4, "float32": 4}
_UNIFORM_INT16_RMS = 32768 / np.sqrt(3)  # RMS of uniform noise over the int16 range


class AudioFormatError(ValueError):
    """The bytes cannot be audio in the stated or detected format."""


@dataclass(frozen=True)
class WavAudio:
    format: str
    sample_rate: int
    channels: int
    data: bytes


def parse_wav(data: bytes) -> WavAudio | None:
    """The format and samples of a RIFF/WAVE file; None when `data` has no WAV header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16:
                raise AudioFormatError("WAV fmt chunk is too short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body:body + 16])
            if tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag starts the subformat GUID
                tag = struct.unpack("<H", data[body + 24:body + 26])[0]
            kinds = {(1, 16): "int16", (1, 32): "int32", (3, 32): "float32"}
            if (tag, bits) not in kinds:
                raise AudioFormatError(f"WAV with format tag {tag} and {bits}-bit samples is not supported; "
                                       "send 16-bit or 32-bit integer PCM, or 32-bit float")
            if not 1 <= channels <= 8 or not 8000 <= rate <= 192000:
                raise AudioFormatError(f"WAV with {channels} channels at {rate} Hz is not supported")
            fmt = (kinds[(tag, bits)], rate, channels)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFormatError("WAV data chunk before its fmt chunk")
            return WavAudio(fmt[0], fmt[1], fmt[2], data[body:body + min(size, len(data) - body)])
        pos = body + size + (size & 1)
    raise AudioFormatError("WAV header without a data chunk")


def detect_format(data: bytes) -> str | None:
    """'float32', 'int32' or 'int16' for raw little-endian samples; None when all zero."""
    if not any(data):
        return None
    if len(data) % 2:
        raise AudioFormatError(f"{len(data)} bytes cannot be 16- or 32-bit samples (odd length)")
    if len(data) % 4 == 0:
        floats = np.frombuffer(data, "<f4")
        if np.all(np.isfinite(floats)):
            magnitude = np.abs(floats)
            nonzero = magnitude[magnitude > 0]
            if magnitude.max() <= 2.0 and np.mean(nonzero >= 1e-10) > 0.95:
                return "float32"
        words = np.frombuffer(data, "<i2").astype(np.float64)
        low, high = words[0::2], words[1::2]
        if not low.any() and high.any():
            return "int32"
        low_rms, high_rms = np.sqrt(np.mean(low ** 2)), np.sqrt(np.mean(high ** 2))
        if abs(low_rms - _UNIFORM_INT16_RMS) < 0.15 * _UNIFORM_INT16_RMS and high_rms < 0.8 * low_rms \
                and abs(np.corrcoef(low, high)[0, 1]) < 0.2:
            return "int32"
    return "int16"


def decode(data: bytes, fmt: str, channels: int = 1) -> np.ndarray:
    """Samples as float32 in [-1, 1], downmixed to mono."""
    frame = _WIDTH[fmt] * channels
    if len(data) % frame:
        raise AudioFormatError(f"{len(data)} bytes is not a whole number of {fmt} frames "
                               f"({frame} bytes for {channels} channel(s))")
    if fmt == "int16":
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif fmt == "int32":
        samples = (np.frombuffer(data, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        samples = np.frombuffer(data, "<f4").astype(np.float32)
        if not np.all(np.isfinite(samples)):
            raise AudioFormatError("float32 audio contains NaN or infinity")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return samples


class AudioNormalizer:
    """Bytes in (any supported format, rate, channels), 16 kHz mono float32 out, for one stream.

    The format is locked on the first chunk that is not all zeros (or given up front). All-zero
    chunks never lock it: silence is silence in any format. Up to `MAX_PENDING` bytes of them
    are held and converted once the format is known; past that the held silence is released as
    zeros of a provisional width (float32, the document's capture format, when the byte count
    allows), so long exact silence neither piles up nor decides how later speech is read.
    """

    MAX_PENDING = 16000 * 4  # bytes of undecided (all-zero) audio held: 1 s of float32

    def __init__(self, fmt: str | None = None, sample_rate: int = TARGET_RATE, channels: int = 1) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise AudioFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} or leave it out")
        self.format = fmt
        self.sample_rate = sample_rate
        self.channels = channels
        self._pending = b""
        self._resampler: soxr.ResampleStream | None = None

    def feed(self, data: bytes) -> np.ndarray:
        wav = parse_wav(data)
        if wav is not None:
            if self.format is not None and (wav.format, wav.sample_rate, wav.channels) != \
                    (self.format, self.sample_rate, self.channels):
                raise AudioFormatError(f"WAV header says {wav.format} {wav.sample_rate} Hz {wav.channels} ch but "
                                       f"this stream is {self.format} {self.sample_rate} Hz {self.channels} ch")
            self.format, self.sample_rate, self.channels = wav.format, wav.sample_rate, wav.channels
            data = wav.data
        if self.format is None:
            detected = detect_format(data)
            if detected is None:
                self._pending += data
                if len(self._pending) <= self.MAX_PENDING:
                    return np.zeros(0, np.float32)
                return self._release_silence()
            self.format = detected
        data, self._pending = self._pending + data, b""
        return self._resample(decode(data, self.format, self.channels), last=False)

    def _release_silence(self) -> np.ndarray:
        """Held all-zero bytes as zeros of a provisional width; the format stays undecided."""
        width = (4 if len(self._pending) % (4 * self.channels) == 0 else 2) * self.channels
        usable = len(self._pending) - len(self._pending) % width
        count, self._pending = usable // width, self._pending[usable:]
        return self._resample(np.zeros(count, np.float32), last=False)

    def flush(self) -> np.ndarray:
        """The resampler's tail (and undecided silence) at the end of the stream."""
        if self.format is None:  # only silence so far
            samples, self._pending = self._release_silence(), b""
            return np.concatenate([samples, self._resample(np.zeros(0, np.float32), last=True)])
        data, self._pending = self._pending, b""
        frame = _WIDTH[self.format] * self.channels
        samples = decode(data[:len(data) - len(data) % frame], self.format, self.channels)
        return self._resample(samples, last=True)

    def _resample(self, samples: np.ndarray, last: bool) -> np.ndarray:
        if self.sample_rate == TARGET_RATE:
            return samples
        if self._resampler is None:
            self._resampler = soxr.ResampleStream(self.sample_rate, TARGET_RATE, 1, dtype="float32")
        return self._resampler.resample_chunk(samples, last=last)
