"""Compressed audio (FLAC, MP3, Ogg/WebM Opus, or any container FFmpeg detects) decoded as its bytes arrive.

PyAV demuxes from a file-like object, so each stream gets a worker thread that runs the demuxer
and decoder over a `_Feed`: a blocking reader over the bytes the client sent so far. Messages may
split the stream anywhere (a browser's MediaRecorder chunks, a file sent in 4 KB pieces); the
demuxer simply waits for the next bytes.

The event loop never decodes: `decode(data)` hands the bytes over and yields the 16 kHz audio
the thread made from them, returning once the thread has consumed every byte and waits for more
(so a message's audio is transcribed before the next message is read: gRPC flow control then
slows a sender that outruns the decoder, as for PCM). Memory is bounded whatever the input:

- bytes held without having yielded audio (`undecoded_bytes`: the unread part of the feed plus
  what FFmpeg read since the last audio frame, i.e. headers, cover art, or garbage) stay at
  most `max_undecoded_bytes`; the message that would pass it ends the stream with
  INVALID_ARGUMENT, so a header-less or endless non-audio stream cannot grow the core;
- decoded audio waiting for the session stays under `MAX_QUEUED_SECONDS` (a tiny FLAC of
  silence can decode to hours): the thread waits for room.

Every wait has a deadline (`wait_seconds`, the core's --idle-timeout). Undecodable bytes end the
stream with an error naming the encoding, after the audio decoded before them.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import av
import numpy as np

from .audio import AudioDecoder, AudioFormatError
from .engines.base import SAMPLE_RATE

log = logging.getLogger(__name__)

# encoding -> FFmpeg demuxer (None = probe the first bytes)
DEMUXERS: dict[str, str | None] = {"FLAC": "flac", "MP3": "mp3", "OGG_OPUS": "ogg", "WEBM_OPUS": "matroska",
                                    "AUTO": None}
MAX_QUEUED_SECONDS = 10.0  # decoded audio the thread may hold for the session
READ_BLOCK = 4096  # bytes PyAV asks for per read


class _Closed(Exception):
    """The session closed the decoder: the worker thread stops."""


@dataclass(frozen=True)
class ContainerLimits:
    max_undecoded_bytes: int = 4 << 20
    wait_seconds: float = 300.0  # deadline of every wait between the thread and the session


class ContainerDecoder:
    """One stream's compressed bytes in, 16 kHz float32 out (mono, or with `separate_channels` > 0
    one row per channel, as many as the stream must have). The interface of `AudioDecoder`'s
    async side (`pieces`, `finish`, `close`, `seconds_in`)."""

    def __init__(self, encoding: str, limits: ContainerLimits, separate_channels: int = 0, label: str = ""):
        if encoding not in DEMUXERS:
            raise ValueError(f"unsupported encoding {encoding}")
        self.encoding = encoding
        self.label = label  # the session's id, for the log
        self.limits = limits
        self.separate_channels = separate_channels
        self.undecoded_bytes = 0
        self.peak_undecoded_bytes = 0
        self.received_bytes = 0
        self.seconds_in = 0.0
        self.detected = ""  # "container/codec rate Hz channels ch", once known
        self._cond = threading.Condition()
        self._inbox = bytearray()
        self._outbox: deque[np.ndarray] = deque()
        self._queued = 0  # samples in _outbox
        self._read_since_audio = 0
        self._eof = self._closed = self._starved = self._done = False
        self._error = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    # ---- the session's side (event loop) ------------------------------------------------------

    async def pieces(self, data: bytes) -> AsyncIterator[np.ndarray]:
        """The audio decodable from the stream so far, once `data` is added to it."""
        self._feed(data)
        async for samples in self._drain(until_done=False):
            yield samples

    async def finish(self) -> AsyncIterator[np.ndarray]:
        """End of the stream: the rest of its audio (none once closed)."""
        if self._thread is None or self._closed:
            return
        with self._cond:
            self._eof = True
            self._cond.notify_all()
        async for samples in self._drain(until_done=True):
            yield samples

    def close(self) -> None:
        """Stop the worker thread (it ends at its next read or hand-over)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _feed(self, data: bytes) -> None:
        with self._cond:
            if self._done:
                return
            pending = len(self._inbox) + self._read_since_audio + len(data)
            if pending > self.limits.max_undecoded_bytes:
                raise AudioFormatError(
                    f"{self._what()}: more than {self.limits.max_undecoded_bytes} bytes arrived without decodable "
                    f"audio; " + ("raw PCM has no header: send it as LINEAR16" if self.encoding == "AUTO" else
                                 "check the config's encoding, or send AUDIO_ENCODING_AUTO to detect the container"))
            self._inbox += data
            self.received_bytes += len(data)
            self._track_undecoded()
            self._cond.notify_all()
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,),
                                            name=f"decode-{self.encoding.lower()}", daemon=True)
            self._thread.start()

    async def _drain(self, until_done: bool) -> AsyncIterator[np.ndarray]:
        while True:
            self._wake.clear()  # before reading the state: a change after it sets the event again
            with self._cond:
                items = list(self._outbox)
                self._outbox.clear()
                self._queued = 0
                self._cond.notify_all()  # room for the thread
                settled = self._done or (not until_done and self._starved and not self._inbox)
                error = self._error
            for samples in items:
                yield samples
            if items:
                continue
            if settled:
                if error:
                    raise AudioFormatError(error)
                return
            try:
                await asyncio.wait_for(self._wake.wait(), self.limits.wait_seconds)
            except asyncio.TimeoutError:
                self.close()
                raise AudioFormatError(f"{self._what()}: decoding stalled for {self.limits.wait_seconds:.0f} s") from None

    def _what(self) -> str:
        if self.encoding == "AUTO":
            return "audio is not in a container FFmpeg recognises (AUTO)"
        return f"audio is not valid {self.encoding}"

    # ---- the worker thread ----------------------------------------------------------------------

    def _signal(self) -> None:
        """Wake the session (called with the lock held)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    def _track_undecoded(self) -> None:
        self.undecoded_bytes = len(self._inbox) + self._read_since_audio
        self.peak_undecoded_bytes = max(self.peak_undecoded_bytes, self.undecoded_bytes)

    def read(self, size: int = READ_BLOCK) -> bytes:
        """PyAV's read: blocks until bytes arrive; b"" at the end of the stream."""
        with self._cond:
            while not self._inbox and not self._eof and not self._closed:
                self._starved = True
                self._signal()
                # the session waits up to wait_seconds for a message: only twice that means it went away
                if not self._cond.wait(2 * self.limits.wait_seconds):
                    raise _Closed()
            self._starved = False
            if self._closed:
                raise _Closed()
            size = min(size if size > 0 else READ_BLOCK, len(self._inbox))
            chunk = bytes(self._inbox[:size])
            del self._inbox[:size]
            self._read_since_audio += len(chunk)
            return chunk

    def _put(self, samples: np.ndarray) -> None:
        with self._cond:
            while self._queued >= MAX_QUEUED_SECONDS * SAMPLE_RATE and not self._closed:
                if not self._cond.wait(self.limits.wait_seconds):
                    raise _Closed()
            if self._closed:
                raise _Closed()
            self._read_since_audio = 0
            self._track_undecoded()
            if samples.size:
                self._outbox.append(samples)
                self._queued += samples.shape[-1]
                self._signal()

    def _run(self) -> None:
        pcm: AudioDecoder | None = None
        try:
            try:
                with av.open(self, mode="r", format=DEMUXERS[self.encoding], buffer_size=READ_BLOCK,
                             options={"probesize": str(min(self.limits.max_undecoded_bytes, 1 << 20))}) as container:
                    stream = next((s for s in container.streams if s.type == "audio"), None)
                    if stream is None:
                        raise AudioFormatError(f"{self._what()}: the stream has no audio track")
                    resampler: av.AudioResampler | None = None
                    for frame in container.decode(stream):
                        if resampler is None:
                            pcm, resampler = self._start(container, stream, frame)
                        for out in resampler.resample(frame):
                            self.seconds_in += out.samples / out.sample_rate
                            self._put(pcm.decode(out.to_ndarray().tobytes()))
            except av.FFmpegError as exc:
                log.info("session %r: %s stream failed after %d bytes, %.1f s of audio: %s", self.label, self.encoding,
                         self.received_bytes, self.seconds_in, exc)
                raise AudioFormatError(f"{self._what()}: {exc.strerror or 'FFmpeg cannot decode it'} after "
                                       f"{self.seconds_in:.1f} s of audio") from None
            finally:
                if pcm is not None and not self._closed:
                    self._put(pcm.flush())  # the resampler's tail of the audio decoded so far
        except AudioFormatError as exc:
            with self._cond:
                self._error = str(exc)
        except _Closed:
            pass
        except Exception:  # noqa: BLE001 - reported to the session, logged with the traceback here
            log.exception("session %r: %s decoder failed", self.label, self.encoding)
            with self._cond:
                self._error = f"{self._what()}: the decoder failed"
        finally:
            with self._cond:
                self._done = True
                self._signal()

    def _start(self, container, stream, frame: av.AudioFrame) -> tuple[AudioDecoder, av.AudioResampler]:
        """The converters for this stream's rate and channels, known from its first frame."""
        channels = len(frame.layout.channels)
        if self.separate_channels and channels != self.separate_channels:
            raise AudioFormatError(f"the {self.encoding} stream has {channels} channel(s); audio_channel_count asks "
                                   f"to recognise {self.separate_channels} separately")
        if not 8000 <= frame.sample_rate <= 192000:
            raise AudioFormatError(f"{self._what()}: sample rate {frame.sample_rate} Hz is out of range")
        self.detected = f"{container.format.name}/{stream.codec_context.name} {frame.sample_rate} Hz {channels} ch"
        log.info("session %r: %s stream is %s", self.label, self.encoding, self.detected)
        resampler = av.AudioResampler(format="flt", layout=frame.layout.name, rate=frame.sample_rate)
        return AudioDecoder("FLOAT32", frame.sample_rate, channels, separate=bool(self.separate_channels)), resampler
