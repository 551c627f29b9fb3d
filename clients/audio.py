"""Audio files in and out with PyAV: any FFmpeg-readable file → 16 kHz mono s16 chunks, or its own
bytes in pieces for a server that decodes it (`read_pieces`).

Decoding is blocking, so the async reader pulls batches of chunks in a worker thread; with
`realtime=True` chunks are released no faster than the audio would be recorded, so the
server sees the same timing as from a live microphone.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
BYTES_PER_SAMPLE = 2  # s16 mono
_BATCH = 10  # chunks decoded per worker-thread hop


class AudioFileError(Exception):
    """The file is missing or FFmpeg cannot decode audio from it."""


def iter_pcm16(path: str | Path, *, sample_rate: int = SAMPLE_RATE, chunk_ms: int = 100,
               channels: int = 1) -> Iterator[bytes]:
    """Decode `path`, resample to `sample_rate` s16 little-endian (mono, or `channels`
    interleaved), yield `chunk_ms` chunks.

    Every chunk but the last is exactly `chunk_ms` long; all hold whole frames.
    """
    if chunk_ms <= 0:
        raise ValueError("chunk_ms must be positive")
    chunk_bytes = sample_rate * chunk_ms // 1000 * BYTES_PER_SAMPLE * channels
    buf = bytearray()
    for block in _decode(Path(path), sample_rate, channels):
        buf += block
        while len(buf) >= chunk_bytes:
            yield bytes(buf[:chunk_bytes])
            del buf[:chunk_bytes]
    if buf:
        yield bytes(buf)


def probe(path: str | Path) -> float | None:
    """Check that `path` opens and has an audio stream; its duration in seconds if known.

    Raises AudioFileError, so a bad file is reported before any connection is made.
    """
    with _open(Path(path)) as (container, stream):
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1e6 if container.duration else None


@contextmanager
def _open(path: Path) -> Iterator[tuple[av.container.InputContainer, av.AudioStream]]:
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from exc
    with container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise AudioFileError(f"{path}: the file has no audio stream")
        yield container, stream


# FFmpeg's layout names by channel count (the file's own layout when it has that many channels)
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def channel_count(path: str | Path) -> int:
    """How many channels the file's audio stream has."""
    with _open(Path(path)) as (_, stream):
        return stream.codec_context.channels or 1


def _decode(path: Path, sample_rate: int, channels: int = 1) -> Iterator[bytes]:
    with _open(path) as (container, stream):
        log.debug("decoding %s: %s %s Hz %s", path, stream.codec_context.name, stream.rate, stream.layout.name)
        layout = _LAYOUTS.get(channels, "stereo")
        resampler = av.AudioResampler(format="s16", layout=layout, rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield _frame_bytes(out)
            for out in resampler.resample(None):
                yield _frame_bytes(out)
        except av.FFmpegError as exc:
            raise AudioFileError(f"{path}: decoding failed ({exc})") from exc


def _frame_bytes(frame: av.AudioFrame) -> bytes:
    # Packed s16: shape (1, samples x channels), interleaved. Planes may be padded, so go through the array.
    return frame.to_ndarray().astype("<i2", copy=False).tobytes()


async def read_chunks(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    chunk_ms: int = 100,
    realtime: bool = False,
    channels: int = 1,
) -> AsyncIterator[bytes]:
    """`iter_pcm16` without blocking the event loop, optionally paced at real time."""
    it = iter_pcm16(path, sample_rate=sample_rate, chunk_ms=chunk_ms, channels=channels)

    async def decoded() -> AsyncIterator[bytes]:
        while batch := await asyncio.to_thread(lambda: list(itertools.islice(it, _BATCH))):
            for chunk in batch:
                yield chunk

    source = decoded()
    if realtime:
        source = paced(source, sample_rate * BYTES_PER_SAMPLE * channels)
    async for chunk in source:
        yield chunk


async def read_pieces(path: str | Path, piece_bytes: int = 32768) -> AsyncIterator[bytes]:
    """The file's bytes as they are, in pieces of `piece_bytes`, read without blocking the event loop
    (for a server that decodes the file itself: encoding "auto")."""
    if piece_bytes <= 0:
        raise ValueError("piece_bytes must be positive")
    with open(path, "rb") as file:
        while batch := await asyncio.to_thread(_read_batch, file, piece_bytes):
            for piece in batch:
                yield piece


def _read_batch(file, piece_bytes: int) -> list[bytes]:
    """Up to _BATCH pieces: one worker-thread hop."""
    return [piece for piece in (file.read(piece_bytes) for _ in range(_BATCH)) if piece]


async def paced(chunks: AsyncIterable[bytes], bytes_per_second: float) -> AsyncIterator[bytes]:
    """Release each chunk when it would have finished recording (wall clock = audio clock)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    async for chunk in chunks:
        sent += len(chunk)
        delay = start + sent / bytes_per_second - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield chunk


def duration_of(pcm16: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    return len(pcm16) / (BYTES_PER_SAMPLE * sample_rate)


# --- writing ---------------------------------------------------------------------------------

# extension → (container format, codec, encoder sample rate or None for the input rate)
_ENCODERS: dict[str, tuple[str, str, int | None]] = {
    ".wav": ("wav", "pcm_s16le", None),
    ".flac": ("flac", "flac", None),
    ".mp3": ("mp3", "libmp3lame", None),
    ".ogg": ("ogg", "libopus", 48000),  # Opus only runs at 8/12/16/24/48 kHz; 48 k is canonical
    ".opus": ("ogg", "libopus", 48000),
    ".webm": ("webm", "libopus", 48000),  # as browsers' MediaRecorder writes speech
}


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Encode mono float32 samples in [-1, 1] to `path`; the format follows the extension."""
    path = Path(path)
    try:
        fmt, codec, rate = _ENCODERS[path.suffix.lower()]
    except KeyError:
        raise AudioFileError(f"{path}: cannot write {path.suffix!r}; use one of {sorted(_ENCODERS)}") from None
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate or sample_rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate or sample_rate)
        frame_size = 4096
        pts = 0
        for start in range(0, len(pcm), frame_size):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + frame_size], format="s16", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = pts
            pts += frame.samples
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return path
