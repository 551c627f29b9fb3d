"""One session's recognition on Google Cloud Speech v1, across as many Google streams as it needs.

Google ends a streaming_recognize call at 305 s of audio, so a session is a chain of
*generations*: Google streams that each carry part of the audio. The blocking
`streaming_recognize` of each generation runs in its own thread, fed by a queue.

- Restart: a stream that would pass its audio budget (`restart_seconds`, backlog included) or
  that has lived `stream_life_seconds` is half-closed and replaced. The new stream first
  re-sends the backlog: the audio accepted since the last final result, capped at
  `max_backlog_seconds` (older unfinalized audio is what Google heard as silence: it sends no
  finals then). From the old stream only finals and speech events that end before the new
  stream's first sample still count (Google finalizes late; that audio is not re-sent); the rest
  is the new stream's to report, and its results wait until the old stream has ended. Result
  times of a stream are shifted by the session time where its audio began, so times stay
  continuous; with the backlog below the budget every stream carries new audio.
- Drain (`finalize`, `finish`, or no audio for `idle_seconds`, before Google's ~10 s audio
  timeout would fail the stream): the stream is half-closed and its results are kept until
  Google closes it; Google finalizes everything it heard. The next audio opens a fresh stream,
  whose results are held back (only the newest interim kept) until the older streams have
  delivered their finals, so segment ids and times stay in order.
- `close()`: every stream is cancelled and nothing is emitted afterwards.

Errors from Google (a failed call, or a response whose `error` is set) are emitted as the
session's EngineError at once and raised again by the next accept/finalize/finish.
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
    BYTES_PER_SAMPLE, SegmentState, interim_only, response_error, response_events, split_requests,
    streaming_config, to_linear16, upstream_error,
)

log = logging.getLogger(__name__)

_END = None  # request-queue sentinel: half-close the Google stream
MAX_HELD = 64  # responses of a newer stream held while an older one drains (finals and events)


@dataclass(eq=False)  # identity equality and hashing: generations live in a set
class Generation:
    number: int
    start: int  # session sample index where this Google stream's audio begins
    # bounded by the audio budget: a stream is never sent more than restart_seconds of audio
    requests: "queue.Queue[bytes | None]" = field(default_factory=queue.Queue)
    samples: int = 0  # samples sent into this stream
    backlog: int = 0  # of which re-sent from the previous stream
    opened_at: float = field(default_factory=time.monotonic)
    discard: bool = False  # the session was closed: its results are dropped
    until: int | None = None  # replaced by a restart: only results up to this session sample count
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
                 restart_seconds: float, call_timeout: float, idle_seconds: float = 5.0,
                 max_backlog_seconds: float = 30.0, stream_life_seconds: float = 290.0):
        if not 0 <= max_backlog_seconds < restart_seconds:
            raise ValueError("max_backlog_seconds must be in [0, restart_seconds): each stream needs new audio")
        self.client = client
        self.settings = settings
        self.emit = emit
        self.model = model
        self.budget = int(restart_seconds * SAMPLE_RATE)  # samples per Google stream, backlog included
        self.stream_life_seconds = stream_life_seconds
        self.max_backlog = int(max_backlog_seconds * SAMPLE_RATE) * BYTES_PER_SAMPLE  # bytes
        self.call_timeout = call_timeout
        self.idle_seconds = idle_seconds
        self.loop = asyncio.get_running_loop()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.lock = threading.Lock()  # guards everything below, shared with the reader threads
        self.draining: set[Generation] = set()  # half-closed streams whose results still count
        self.held: list[tuple[Generation, Any]] = []  # responses of a newer stream while older ones drain
        self.gen: Generation | None = None
        self.generations = 0
        self.accepted = 0  # samples accepted in the session
        self.unfinal = bytearray()  # LINEAR16 audio since the last final result, at most max_backlog
        self.unfinal_start = 0  # its session sample index
        self.state = SegmentState()
        self.error: UpstreamError | None = None
        self.closed = False

    # --- EngineStream -------------------------------------------------------------------------

    async def accept(self, audio: np.ndarray) -> None:
        self._raise_error()
        pcm = to_linear16(np.asarray(audio, dtype=np.float32))
        samples = len(pcm) // BYTES_PER_SAMPLE
        with self.lock:
            if self.gen is None:
                self._open_generation(self.accepted, b"")
            elif self._at_budget(self.gen, samples):
                self._restart()
            self.unfinal += pcm
            self._cap_backlog()
            self.gen.send(pcm)
            self.accepted += samples
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
            gens = list(self.draining) + ([self.gen] if self.gen is not None else [])
            self.gen = None
            self.held.clear()
        for gen in gens:  # draining streams too: nothing reaches the session after close()
            gen.discard = True
            gen.end()
            self._cancel(gen)

    # --- generations --------------------------------------------------------------------------

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _at_budget(self, gen: Generation, incoming: int) -> bool:
        """True when `incoming` more samples would pass the stream's audio budget, or it is old.
        The backlog is below the budget, so a new stream always has room for new audio."""
        return (gen.samples + incoming > self.budget
                or time.monotonic() - gen.opened_at >= self.stream_life_seconds)

    def _cap_backlog(self) -> None:
        """Keep at most max_backlog of unfinalized audio (lock held). Google sends no finals in
        silence; what is older than the cap is not re-sent, and times stay continuous because a
        stream's offset is where its first re-sent sample lies in the session."""
        over = len(self.unfinal) - self.max_backlog
        if over > 0:
            del self.unfinal[:over]
            self.unfinal_start += over // BYTES_PER_SAMPLE

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
        """Replace the current stream (lock held): re-send the unfinal audio to a new one; the old
        one is half-closed (Google gets all of its audio and ends it cleanly) and still reports
        what ends before the re-sent audio."""
        old = self.gen
        old.until = self.unfinal_start
        old.end()
        self.draining.add(old)
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
                log.info("google stream %d half-closed after %.1f s without audio", self.gen.number,
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
                error = response_error(response)
                if error is not None:
                    raise error
                with self.lock:
                    if gen.discard or self.closed:
                        break
                    if self._older_draining(gen):
                        self._hold(gen, response)
                    else:
                        self._deliver(gen, response)
        except Exception as exc:
            with self.lock:
                if gen.until is not None and not gen.discard:  # its audio went to the next stream too
                    log.warning("google stream %d, replaced by a restart, failed: %s", gen.number, exc)
                elif not gen.discard and not self.closed:
                    self.error = exc if isinstance(exc, UpstreamError) else upstream_error(exc)
                    log.warning("google stream %d failed: %s", gen.number, self.error.message)
                    self._post(self.error)  # tell the session now, not at the client's next message
                    if self.gen is gen:
                        self.gen = None
            gen.end()
        finally:
            with self.lock:
                self.draining.discard(gen)
                self._release_held()
            try:
                self.loop.call_soon_threadsafe(_resolve, gen.done)
            except RuntimeError:  # the event loop is gone (server shutdown)
                pass

    def _older_draining(self, gen: Generation) -> bool:
        return any(g.number < gen.number and not g.discard for g in self.draining)

    def _hold(self, gen: Generation, response: Any) -> None:
        """Keep a newer stream's response until the older ones are done (lock held): only the
        newest interim-only response is kept, finals and speech events all (they are few)."""
        if interim_only(response) and self.held and interim_only(self.held[-1][1]):
            self.held[-1] = (gen, response)
        else:
            self.held.append((gen, response))
        while len(self.held) > MAX_HELD:  # an old stream that never ends must not hold up results
            held_gen, held = self.held.pop(0)
            self._deliver(held_gen, held)

    def _release_held(self) -> None:
        """Deliver held responses whose older streams have all finished (lock held)."""
        while self.held and not self._older_draining(self.held[0][0]):
            gen, response = self.held.pop(0)
            if not gen.discard and not self.closed:
                self._deliver(gen, response)

    def _deliver(self, gen: Generation, response: Any) -> None:
        """Turn one response into events (lock held) and trim the audio it finalized."""
        offset = gen.start / SAMPLE_RATE
        until = None if gen.until is None else gen.until / SAMPLE_RATE
        for event in response_events(response, offset, self.state, self.settings.language, until):
            if getattr(event, "is_final", False) and gen is self.gen:
                finalized = int(round(event.end * SAMPLE_RATE))
                cut = min(max(finalized - self.unfinal_start, 0), len(self.unfinal) // BYTES_PER_SAMPLE)
                del self.unfinal[:cut * BYTES_PER_SAMPLE]
                self.unfinal_start += cut
            self._post(event)

    def _post(self, event) -> None:
        try:
            self.loop.call_soon_threadsafe(self._emit_unless_closed, event)
        except RuntimeError:  # the event loop is gone (server shutdown)
            pass

    def _emit_unless_closed(self, event) -> None:
        if not self.closed:
            self.emit(event)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
