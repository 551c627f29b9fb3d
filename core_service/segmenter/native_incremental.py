"""The native incremental strategy: for engines with their own streaming decoder (FunASR
paraformer-online, SpeechBrain transducer).

The engine's own decoder produces partial text chunk by chunk; the segmenter decides where an
utterance begins and ends. Its VAD and endpointer open an utterance at speech begin and close
it at speech end, where the decoder is flushed and the final result emitted. With VAD
disabled, one utterance spans the stream, cut by `finalize()`, `finish()` or the maximum
segment length.

`UtteranceDecoder` is the engine-specific part: one utterance's decoder state. All model work
runs on the engine's worker threads (the VAD on the segmenter's); events are handed to `emit`
on the event loop thread.
"""
from __future__ import annotations

import abc
import asyncio
import logging
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from ..engines.base import (
    SAMPLE_RATE, Emit, EngineStream, Event, Result, SessionSettings, SpeechBoundary, VadSettings, Word,
)
from ..vad import SileroVad
from .endpointer import Boundary
from .segmenter import Segmenter, Utterance

log = logging.getLogger(__name__)


class UtteranceDecoder(abc.ABC):
    """One utterance's streaming decoder state. Called from one worker thread at a time.

    The text it returns only ever grows at the end (what was decoded is never revised), which
    is how paraformer-online and greedy transducer search both behave."""

    resolution: float = 0.6  # seconds of audio behind one decoding step (the decoder's chunk)

    @abc.abstractmethod
    def feed(self, audio: np.ndarray) -> str:
        """Decode the next 16 kHz float32 samples; return the utterance text so far."""

    @abc.abstractmethod
    def flush(self) -> str:
        """End of the utterance: decode what is buffered; return the complete text."""


@dataclass
class SegmentPolicy:
    """Knobs of the segmenting that are not part of the session's settings."""

    max_segment_seconds: float = 30.0  # force a final on speech this long (or VAD off)


_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+")


def timed_words(text: str, emitted: list[tuple[int, float]], start: float, resolution: float) -> list[Word]:
    """Words of `text` timed by when the decoder emitted them: `emitted` holds (text length,
    audio time) after each decoding call. A word ends when its last character was emitted and
    starts one decoder step before its first, so times are as exact as the decoder's chunks.
    CJK characters count as words, as FunASR's own timestamps do."""
    words: list[Word] = []
    prev_end = start
    k = 0
    for m in _WORD.finditer(text):
        while k < len(emitted) - 1 and emitted[k][0] <= m.start():
            k += 1
        first = emitted[k][1]
        j = k
        while j < len(emitted) - 1 and emitted[j][0] < m.end():
            j += 1
        last = emitted[j][1]
        w_start = max(prev_end, first - resolution, start)
        w_end = max(last, w_start)
        words.append(Word(m.group(), w_start, w_end))
        prev_end = w_end
    return words


@dataclass
class _Utterance(Utterance):
    decoder: UtteranceDecoder | None = None
    first: int = 0  # sample index of the start
    fed: int = 0  # sample index up to which audio went to the decoder
    text: str = ""
    partial_at: int = 0  # sample index of the last partial
    compute: float = 0.0  # decoder seconds since the last result
    emitted: list[tuple[int, float]] = field(default_factory=list)  # (len(text), seconds) per step


class NativeStream(EngineStream):
    """VAD-endpointed segments over an engine's own streaming decoder."""

    def __init__(
        self,
        settings: SessionSettings,
        emit: Emit,
        new_decoder,
        executor: Executor,
        policy: SegmentPolicy,
        language: str = "",
    ) -> None:
        self.settings = settings
        self.emit = emit
        self.new_decoder = new_decoder  # () -> UtteranceDecoder
        self.executor = executor
        self.policy = policy
        self.language = language
        self.seg = Segmenter(settings.vad, SileroVad.shared())
        self.partial_interval = settings.partial_interval
        self.utterance: _Utterance | None = None
        self._lock = asyncio.Lock()  # keeps accept/finalize/finish in order

    # --- EngineStream -------------------------------------------------------------------------

    async def accept(self, audio: np.ndarray) -> None:
        async with self._lock:
            audio = np.asarray(audio, dtype=np.float32)
            boundaries = await self.seg.hear(audio)
            await self._run(self._accept, len(audio), boundaries)

    async def finalize(self) -> None:
        async with self._lock:
            await self._run(self._finalize)

    async def update(self, vad: VadSettings | None, partial_interval: float | None) -> None:
        if partial_interval:
            self.partial_interval = self.settings.partial_interval = partial_interval
        if vad is not None:
            self.settings.vad = vad
            async with self._lock:
                self.seg.set_vad(vad, in_utterance=self.utterance is not None)
                if not vad.enabled and self.utterance is None:
                    self._open(self.seg.audio.end)

    async def finish(self) -> None:
        async with self._lock:
            await self._run(self._finish)

    async def close(self) -> None:
        self.utterance = None

    # --- worker-thread side -------------------------------------------------------------------

    async def _run(self, fn, *args) -> None:
        loop = asyncio.get_running_loop()
        events: list[Event] = await loop.run_in_executor(self.executor, fn, *args)
        for event in events:
            self.emit(event)

    def _accept(self, n: int, boundaries: list[Boundary]) -> list[Event]:
        events: list[Event] = []
        end = self.seg.audio.end
        endpointer = self.seg.endpointer
        if endpointer is None:
            if self.utterance is None:
                self._open(end - n)
        else:
            for b in boundaries:
                at = int(round(b.time * SAMPLE_RATE))
                if b.kind == "begin":
                    events.append(SpeechBoundary("begin", b.time))
                    if self.utterance is None:
                        self._open(at)
                else:
                    if self.utterance is not None:
                        self._feed_until(at, events)
                    events.append(SpeechBoundary("end", b.time))
                    if self.utterance is not None:
                        self._close(at, events, noise=endpointer.utterance_is_noise())
        if self.utterance is not None:
            self._feed_until(end, events)
        keep_from = self.seg.now - self.seg.pre_roll
        if self.utterance is not None:
            keep_from = min(keep_from, self.utterance.fed / SAMPLE_RATE)
        self.seg.forget_before(keep_from)
        return events

    def _finalize(self) -> list[Event]:
        return self._cut(end_of_stream=False)

    def _finish(self) -> list[Event]:
        return self._cut(end_of_stream=True)

    def _cut(self, end_of_stream: bool) -> list[Event]:
        """Close the open utterance at the end of the audio heard. On `finalize` speech may go
        on (a new segment starts here); at the end of the stream it ends here."""
        events: list[Event] = []
        end = self.seg.audio.end
        endpointer = self.seg.endpointer
        in_speech = endpointer is not None and endpointer.in_speech
        if self.utterance is not None:
            self._close(end, events)
            if not end_of_stream and (endpointer is None or in_speech):
                self._open(end)  # speech goes on: a new segment starts now
        if end_of_stream and in_speech:
            endpointer.in_speech = False
            events.append(SpeechBoundary("end", end / SAMPLE_RATE))
        return events

    def _open(self, at: int) -> None:
        at = max(at, self.seg.audio.start)
        self.utterance = _Utterance(self.seg.new_id(), at / SAMPLE_RATE, decoder=self.new_decoder(), first=at,
                                    fed=at, partial_at=at)

    def _feed_until(self, until: int, events: list[Event]) -> None:
        u = self.utterance
        max_len = int(self.policy.max_segment_seconds * SAMPLE_RATE)
        while u is not None and until > u.fed:
            stop = min(until, u.first + max_len)
            audio = self.seg.audio.slice(u.fed, stop)
            t0 = time.perf_counter()
            u.text = u.decoder.feed(audio)
            u.compute += time.perf_counter() - t0
            u.fed = stop
            u.emitted.append((len(u.text), stop / SAMPLE_RATE))
            self._maybe_partial(u, events)
            if u.fed - u.first >= max_len:
                self._close(u.fed, events)
                self._open(u.fed)
                u = self.utterance

    def _maybe_partial(self, u: _Utterance, events: list[Event]) -> None:
        if not self.settings.interim_results or not u.text or u.text == u.partial_text:
            return
        if (u.fed - u.partial_at) < self.partial_interval * SAMPLE_RATE and u.partial_text:
            return
        events.append(Result(
            segment_id=u.segment_id, text=u.text, is_final=False,
            start=u.start, end=u.fed / SAMPLE_RATE,
            stability=0.5, language=self.language, processing_time=u.compute,
        ))
        u.partial_text, u.partial_at, u.compute = u.text, u.fed, 0.0

    def _close(self, at: int, events: list[Event], noise: bool = False) -> None:
        u = self.utterance
        self.utterance = None
        if u is None:
            return
        u.closed = True
        t0 = time.perf_counter()
        text = u.decoder.flush().strip()
        u.compute += time.perf_counter() - t0
        if not u.partial_text and (noise or not text):
            self.seg.unused(u.segment_id)
            return  # nothing was said, and no partial promised a final for this segment
        start, end = u.start, max(at, u.first) / SAMPLE_RATE
        words: list[Word] = []
        if self.settings.word_time_offsets and text:
            u.emitted.append((len(text), max(u.fed / SAMPLE_RATE, start)))
            words = timed_words(text, u.emitted, start, u.decoder.resolution)
            for w in words:  # trailing silence fed after the end boundary is not part of the segment
                w.end = min(w.end, max(end, w.start))
            end = max(end, words[-1].end) if words else end
        events.append(Result(
            segment_id=u.segment_id, text=text, is_final=True, start=start, end=end,
            stability=1.0, language=self.language, processing_time=u.compute, words=words,
        ))
