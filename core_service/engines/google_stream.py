"""One session's recognition on Google Cloud Speech v1, across as many Google streams as it needs.

Google ends a streaming_recognize call after about five minutes, so a session is a chain of
*generations*: Google streams that each carry part of the audio. The blocking
`streaming_recognize` of each generation runs in its own thread, fed by a queue.

- Restart (stream age or audio length reached `restart_seconds`): the old stream is half-closed
  and its further results are discarded; the new stream first re-sends the audio accepted since
  the last final result, so nothing is lost, and its result times are shifted by the session time
  where that audio began, so times stay continuous.
- Drain (`finalize`, `finish`, or no audio for `idle_seconds`, before Google's ~10 s audio
  timeout would fail the stream): the stream is half-closed and its results are kept until
  Google closes it; Google finalizes everything it heard. The next audio opens a fresh stream.

Errors from Google are kept and raised by the next accept/finalize/finish (the engine
interface has no other way to report them).
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import SAMPLE_RATE, Emit, EngineStream, SessionSettings, UpstreamError, VadSettings
from .google_mapping import (
    BYTES_PER_SAMPLE, SegmentState, response_events, split_requests, streaming_config, to_linear16,
    upstream_error,
)

log = logging.getLogger(__name__)

_END = None  # request-queue sentinel: half-close the Google stream


@dataclass(eq=False)  # identity equality and hashing: generations live in a set
class Generation:
    number: int
    start: int  # session sample index where this Google stream's audio begins
    requests: "queue.Queue[bytes | None]" = field(default_factory=queue.Queue)
    samples: int = 0  # samples sent into this stream
    backlog: int = 0  # of which re-sent from the previous stream
    opened_at: float = field(default_factory=time.monotonic)
    discard: bool = False  # superseded by a restart: its results are dropped
    ended: bool = False
    done: asyncio.Future | None = None
    call: Any = None

    def send(self, pcm: bytes) -> None:
        for piece in split_requests(pcm):
            self.requests.put(piece)
        self.samples += len(pcm) // BYTES_PER_SAMPLE

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.requests.put(_END)


class GoogleStream(EngineStream):
    def __init__(self, client: Any, settings: SessionSettings, emit: Emit, model: str,
                 restart_seconds: float, call_timeout: float, idle_seconds: float = 5.0):
        self.client = client
        self.settings = settings
        self.emit = emit
        self.model = model
        self.restart_seconds = restart_seconds
        self.call_timeout = call_timeout
        self.idle_seconds = idle_seconds
        self.loop = asyncio.get_running_loop()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.draining: set[Generation] = set()  # half-closed streams whose results still count
        self.lock = threading.Lock()  # guards everything below, shared with the reader threads
        self.gen: Generation | None = None
        self.generations = 0
        self.accepted = 0  # samples accepted in the session
        self.unfinal = bytearray()  # LINEAR16 audio since the last final result
        self.unfinal_start = 0  # its session sample index
        self.state = SegmentState()
        self.error: UpstreamError | None = None
        self.closed = False

    # --- EngineStream -------------------------------------------------------------------------

    async def accept(self, audio: np.ndarray) -> None:
        self._raise_error()
        pcm = to_linear16(np.asarray(audio, dtype=np.float32))
        with self.lock:
            if self.gen is None:
                self._open_generation(self.accepted, b"")
            elif self._too_old(self.gen):
                self._restart()
            self.unfinal += pcm
            self.gen.send(pcm)
            self.accepted += len(pcm) // BYTES_PER_SAMPLE
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = self.loop.call_later(self.idle_seconds, self._idle)

    async def finalize(self) -> None:
        await self._drain()

    async def update(self, vad: VadSettings | None, partial_interval: float | None) -> None:
        # Google's config is fixed per stream; the next stream of this session uses the new VAD.
        if vad is not None:
            self.settings.vad = vad
        if partial_interval:
            self.settings.partial_interval = partial_interval

    async def finish(self) -> None:
        await self._drain()

    async def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        with self.lock:
            self.closed = True
            if self.gen is not None:
                self.gen.discard = True
                self.gen.end()
                self._cancel(self.gen)
                self.gen = None

    # --- generations --------------------------------------------------------------------------

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _too_old(self, gen: Generation) -> bool:
        # Google limits a stream's audio, backlog included; requiring some new audio per stream
        # keeps a long unfinalized backlog from restarting the stream on every request.
        audio = gen.samples / SAMPLE_RATE
        new = (gen.samples - gen.backlog) / SAMPLE_RATE
        return ((audio >= self.restart_seconds and new >= self.restart_seconds / 2)
                or time.monotonic() - gen.opened_at >= self.restart_seconds)

    def _open_generation(self, start: int, backlog: bytes) -> Generation:
        self.generations += 1
        gen = Generation(self.generations, start, done=self.loop.create_future())
        if backlog:
            gen.send(backlog)
            gen.backlog = gen.samples
        self.gen = gen
        config = streaming_config(self.settings, self.model)
        threading.Thread(target=self._run, args=(gen, config), name=f"google-stream-{gen.number}",
                         daemon=True).start()
        log.debug("google stream %d opened at %.2f s with %.2f s of backlog", gen.number,
                  start / SAMPLE_RATE, len(backlog) / BYTES_PER_SAMPLE / SAMPLE_RATE)
        return gen

    def _restart(self) -> None:
        """Replace the current stream (lock held): drop its results, re-send the unfinal audio."""
        old = self.gen
        old.discard = True
        old.end()
        self._cancel(old)
        log.info("google stream %d restarted after %.1f s of audio; re-sending %.2f s", old.number,
                 old.samples / SAMPLE_RATE, len(self.unfinal) / BYTES_PER_SAMPLE / SAMPLE_RATE)
        self._open_generation(self.unfinal_start, bytes(self.unfinal))

    def _half_close(self) -> None:
        """Drain the current stream (lock held); whatever Google does not finalize is not re-sent."""
        gen, self.gen = self.gen, None
        if gen is not None:
            gen.end()
            self.draining.add(gen)
        self.unfinal.clear()
        self.unfinal_start = self.accepted

    def _idle(self) -> None:
        self._idle_timer = None
        with self.lock:
            if self.gen is not None and not self.closed:
                log.debug("google stream %d half-closed after %.1f s without audio", self.gen.number,
                          self.idle_seconds)
                self._half_close()

    async def _drain(self) -> None:
        self._raise_error()
        with self.lock:
            self._half_close()
            pending = [g.done for g in self.draining]
        if pending:
            await asyncio.gather(*pending)
        self._raise_error()

    @staticmethod
    def _cancel(gen: Generation) -> None:
        if gen.call is not None and hasattr(gen.call, "cancel"):
            try:
                gen.call.cancel()
            except Exception:  # already finished
                pass

    # --- reader thread ------------------------------------------------------------------------

    def _requests(self, gen: Generation):
        """Audio requests; SpeechClient's helper sends the config request before them."""
        from google.cloud import speech_v1

        while (piece := gen.requests.get()) is not _END:
            yield speech_v1.StreamingRecognizeRequest(audio_content=piece)

    def _run(self, gen: Generation, config: Any) -> None:
        try:
            responses = self.client.streaming_recognize(
                config, self._requests(gen), retry=None, timeout=self.call_timeout)
            gen.call = responses
            for response in responses:
                with self.lock:
                    if gen.discard:
                        break
                    self._deliver(gen, response)
        except Exception as exc:
            with self.lock:
                if not gen.discard and not self.closed:
                    self.error = upstream_error(exc)
                    log.warning("google stream %d failed: %s", gen.number, self.error.message)
                    try:  # tell the session now, not at the client's next message
                        self.loop.call_soon_threadsafe(self.emit, self.error)
                    except RuntimeError:
                        pass
                    if self.gen is gen:
                        self.gen = None
            gen.end()
        finally:
            with self.lock:
                self.draining.discard(gen)
            try:
                self.loop.call_soon_threadsafe(_resolve, gen.done)
            except RuntimeError:  # the event loop is gone (server shutdown)
                pass

    def _deliver(self, gen: Generation, response: Any) -> None:
        """Turn one response into events (lock held) and trim the audio it finalized."""
        offset = gen.start / SAMPLE_RATE
        for event in response_events(response, offset, self.state, self.settings.language):
            if getattr(event, "is_final", False):
                finalized = int(round(event.end * SAMPLE_RATE))
                cut = min(max(finalized - self.unfinal_start, 0), len(self.unfinal) // BYTES_PER_SAMPLE)
                del self.unfinal[:cut * BYTES_PER_SAMPLE]
                self.unfinal_start += cut
            self.loop.call_soon_threadsafe(self.emit, event)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
