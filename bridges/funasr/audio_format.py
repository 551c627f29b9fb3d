"""Audio format detection and normalisation for the funasr dialect (pure functions + one
small stateful normaliser, no I/O).

Clients send base64 audio without saying what it is. `detect_format` tells float32, int16
and int32 apart from the samples themselves; `parse_wav` reads a RIFF/WAVE header when one
is present; `AudioNormalizer` turns any of them into 16 kHz mono float32.

Detection, in order:
- float32: every value finite, |x| <= 2 and (almost) no denormal-tiny values. Integer audio
  read as float32 is full of NaN/inf (small negative samples) or ~1e-38 values (small positive).
- int32, read as int16 words (low word, high word): one kind of word has under a quarter of
  the other's RMS. In int16 audio the two are neighbouring samples of one signal, at one level;
  in int32 audio either the low words wrap around (or are uniform noise) while the high words
  carry a quiet signal (`(x * 2147483647).astype(np.int32)` of a recording's quiet start:
  high words of a few units), or the low words are (nearly) zero under loud high words (int16
  widened: `x * 2147483647` of 16-bit samples leaves low words of 0 and -1). Loud int32 (low
  words uniform noise, RMS ~18900, uncorrelated with the high words) is the last check.
- int16 otherwise.
Undecidable (None): all-zero data, and data too quiet to tell (both kinds of word under
`QUIET_WORD` RMS: below -66 dBFS however it is read, silence for any recogniser).

`AudioNormalizer` never decides on a guess: it holds chunks until `DECIDE_BYTES` of audible
(decidable) audio have come, judges them together, and only then decodes anything; silence and
too-quiet chunks before that are passed on as silence.
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
QUIET_WORD = 16  # RMS of int16 words this small (-66 dBFS) tells nothing: silence
_LEVEL_RATIO_INT32 = 0.25  # int32 read as int16: one kind of word under this share of the other's RMS


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
    """'float32', 'int32' or 'int16' for raw little-endian samples; None when all zero or too
    quiet to tell (see the module docstring)."""
    if not any(data):
        return None
    if len(data) % 2:
        raise AudioFormatError(f"{len(data)} bytes cannot be 16- or 32-bit samples (odd length)")
    if len(data) % 4:
        return "int16"  # not a whole number of 32-bit samples
    floats = np.frombuffer(data, "<f4")
    if np.all(np.isfinite(floats)):
        magnitude = np.abs(floats)
        nonzero = magnitude[magnitude > 0]
        if magnitude.max() <= 2.0 and np.mean(nonzero >= 1e-10) > 0.95:
            return "float32"
    words = np.frombuffer(data, "<i2").astype(np.float64)
    low, high = words[0::2], words[1::2]
    low_rms, high_rms = np.sqrt(np.mean(low ** 2)), np.sqrt(np.mean(high ** 2))
    if max(low_rms, high_rms) < QUIET_WORD:
        return None
    if min(low_rms, high_rms) < _LEVEL_RATIO_INT32 * max(low_rms, high_rms):
        return "int32"
    if abs(low_rms - _UNIFORM_INT16_RMS) < 0.15 * _UNIFORM_INT16_RMS and high_rms < 0.8 * low_rms \
            and abs(np.corrcoef(low, high)[0, 1]) < 0.2:
        return "int32"
    return "int16"


def all_nan_floats(data: bytes) -> bool:
    """A chunk of float32 NaN/infinity only (`np.full(n, np.nan)`): not audio in any format. Quiet
    negative int32 audio also reads as NaN, but with as many bit patterns as samples; NaN and
    infinity written by a program have a handful."""
    if len(data) % 4 or not data:
        return False
    bits = np.frombuffer(data, "<u4")
    return not np.isfinite(bits.view("<f4")).any() and np.unique(bits).size <= 4


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

    The format is given up front, read from a WAV header, or detected: chunks are held until
    `DECIDE_BYTES` of audible audio have come (the document's 1024-sample chunks: two of
    32-bit audio) and judged together, so no audio is decoded from a guess. All-zero and
    too-quiet chunks never decide (silence is silence in any format); past `MAX_PENDING` held
    bytes the format is decided from what audible audio there is, or, with none, the held
    silence is released as zeros of a provisional width (float32, the document's capture
    format, when the byte count allows), so long exact silence neither piles up nor decides how
    later speech is read. A chunk of float32 NaN/infinity is refused and changes nothing.
    """

    MAX_PENDING = 16000 * 4  # bytes held while the format is undecided: 1 s of float32
    DECIDE_BYTES = 8192  # audible bytes judged together before the format is decided

    def __init__(self, fmt: str | None = None, sample_rate: int = TARGET_RATE, channels: int = 1) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise AudioFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} or leave it out")
        self.format = fmt
        self.sample_rate = sample_rate
        self.channels = channels
        self._held: list[tuple[bytes, bool]] = []  # chunks before the format is known, and whether audible
        self._resampler: soxr.ResampleStream | None = None

    @property
    def _held_bytes(self) -> int:
        return sum(len(chunk) for chunk, _ in self._held)

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
            return self._detect(data)
        return self._resample(decode(data, self.format, self.channels), last=False)

    def _detect(self, data: bytes) -> np.ndarray:
        if all_nan_floats(data):
            raise AudioFormatError("float32 samples that are all NaN or infinity are not audio; this chunk was "
                                   "dropped (the stream's format is unchanged)")
        verdict = detect_format(data)
        if verdict is not None and len(data) % 4:
            self.format = verdict  # 16-bit: no whole number of 32-bit samples
        self._held.append((data, verdict is not None))
        audible = b"".join(chunk for chunk, heard in self._held if heard)
        if self.format is None and (len(audible) >= self.DECIDE_BYTES or
                                    (audible and self._held_bytes > self.MAX_PENDING)):
            self.format = detect_format(audible) or "int16"
        if self.format is not None:
            return self._release_held()
        if self._held_bytes <= self.MAX_PENDING:
            return np.zeros(0, np.float32)
        return self._release_silence()

    def _release_held(self) -> np.ndarray:
        """The held chunks in the decided format: audible ones decoded, silent ones as zeros."""
        assert self.format is not None
        frame = _WIDTH[self.format] * self.channels
        parts = []
        for chunk, heard in self._held:
            if heard:
                parts.append(decode(chunk, self.format, self.channels))
            else:  # silence, maybe of a width it was not sent in
                parts.append(np.zeros(len(chunk) // frame, np.float32))
        self._held = []
        return self._resample(np.concatenate(parts) if parts else np.zeros(0, np.float32), last=False)

    def _release_silence(self) -> np.ndarray:
        """Held silent bytes as zeros of a provisional width; the format stays undecided."""
        held = self._held_bytes
        width = (4 if held % (4 * self.channels) == 0 else 2) * self.channels
        usable = held - held % width
        rest = b"".join(chunk for chunk, _ in self._held)[usable:]
        self._held = [(rest, False)] if rest else []
        return self._resample(np.zeros(usable // width, np.float32), last=False)

    def flush(self) -> np.ndarray:
        """What is still held (decided from its audible part, if any) and the resampler's tail,
        at the end of the stream."""
        audible = b"".join(chunk for chunk, heard in self._held if heard)
        if self.format is None and audible:
            self.format = detect_format(audible) or "int16"
        if self.format is not None:
            samples = self._release_held()
        else:  # only silence
            samples, self._held = self._release_silence(), []
        return np.concatenate([samples, self._resample(np.zeros(0, np.float32), last=True)])

    def _resample(self, samples: np.ndarray, last: bool) -> np.ndarray:
        if self.sample_rate == TARGET_RATE:
            return samples
        if self._resampler is None:
            self._resampler = soxr.ResampleStream(self.sample_rate, TARGET_RATE, 1, dtype="float32")
        return self._resampler.resample_chunk(samples, last=last)
