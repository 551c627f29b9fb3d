"""Streaming for engines that only transcribe whole clips (Whisper).

Silero VAD endpoints the audio into utterances. While an utterance is open, its audio so far
is re-decoded every `partial_interval` seconds for partial results; when speech ends (silence
>= min_silence) the utterance is decoded once more and emitted as final. An utterance that
grows past `max_utterance` seconds commits the prefix that the last two partial decodes agree
on (LocalAgreement) as a final and keeps going with the rest. Silence costs nothing: without
speech no decode is scheduled at all.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

from .engines.base import (SAMPLE_RATE, Emit, EngineStream, Result, SessionSettings, SpeechBoundary,
                           VadSettings, Word)
from .engines.whisper_decoder import DecodedWord, Transcript
from .scheduler import Superseded
from .vad import FRAME, Endpointer, SileroVad

log = logging.getLogger(__name__)

# transcribe(audio, final, word_timestamps) -> (transcript, compute seconds)
Transcribe = Callable[[np.ndarray, bool, bool], Awaitable[tuple[Transcript, float]]]

PRE_ROLL = 0.6  # seconds of audio kept before the open utterance (VAD pads its start)
SPECULATE_AFTER = 0.12  # seconds of silence before the final decode starts speculatively
FIRST_PARTIAL_AFTER = 0.3  # seconds of speech before the first partial
SENTENCE_END = re.compile(r"[.?!\u3002\uff1f\uff01]['\"\u201d)]*$")


@dataclass
class Speculation:
    """A final decode started as soon as speech paused, before the endpoint is certain."""

    last_speech: float  # the endpointer's last speech time it was started for
    end: float
    task: asyncio.Task


@dataclass
class Utterance:
    segment_id: int
    start: float  # seconds from stream start
    partial_text: str = ""
    hypotheses: list[list[DecodedWord]] = field(default_factory=list)  # last partial word lists
    hyp_offset: float = 0.0  # start time the hypotheses' word times are relative to
    closed: bool = False


def _norm(word: str) -> str:
    return re.sub(r"[^\w']+", "", word.lower())


class UtteranceStream(EngineStream):
    def __init__(self, settings: SessionSettings, transcribe: Transcribe, emit: Emit,
                 vad_model: SileroVad, *, max_utterance: float = 15.0, sentence_end_silence: float = 0.2):
        self.settings = settings
        self._transcribe = transcribe
        self._emit = emit
        self._vad = vad_model.stream()
        self._endpointer = Endpointer(settings.vad)
        self.max_utterance = max_utterance
        # A pause this long after text that ends a sentence ends the utterance (0 = off).
        self.sentence_end_silence = sentence_end_silence
        self._spec: Speculation | None = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # absolute sample index of _buf[0]
        self._total = 0  # samples received
        self._next_id = 1
        self._utt: Utterance | None = None
        self._last_partial_at = 0.0
        self._partial_task: asyncio.Task | None = None
        self._final_tail: asyncio.Task | None = None  # finals are emitted in order
        self._tasks: set[asyncio.Task] = set()

    # ---- audio time helpers ---------------------------------------------------------------
    @property
    def now(self) -> float:
        return self._total / SAMPLE_RATE

    def _audio(self, start: float, end: float) -> np.ndarray:
        a = max(int(start * SAMPLE_RATE) - self._buf_start, 0)
        b = max(int(end * SAMPLE_RATE) - self._buf_start, a)
        return self._buf[a:b].copy()

    def _trim(self) -> None:
        keep_from = self._utt.start if self._utt else self.now - PRE_ROLL
        cut = int(keep_from * SAMPLE_RATE) - self._buf_start
        if cut > SAMPLE_RATE:  # trim in 1 s steps to avoid copying on every chunk
            self._buf = self._buf[cut:]
            self._buf_start += cut

    # ---- EngineStream ---------------------------------------------------------------------
    async def accept(self, audio: np.ndarray) -> None:
        self._buf = np.concatenate([self._buf, audio])
        self._total += len(audio)
        if self.settings.vad.enabled:
            for b in self._endpointer.update(self._vad.probabilities(audio)):
                if b.kind == "begin":
                    self._open(b.time)
                elif self._utt is not None:
                    self._emit(SpeechBoundary("end", b.time))
                    self._close(b.time, noise=self._endpointer.utterance_is_noise())
            self._speculate()
        elif self._utt is None:
            self._open(max(self.now - len(audio) / SAMPLE_RATE, 0.0), event=False)
        if self._utt is not None:
            if self.now - self._utt.start >= self.max_utterance:
                self._commit_stable_prefix()
            elif self.settings.interim_results and self.now - self._last_partial_at >= self.settings.partial_interval:
                self._start_partial()
        self._trim()

    async def finalize(self) -> None:
        if self._utt is not None:
            end = self.now
            if self.settings.vad.enabled:
                self._emit(SpeechBoundary("end", end))
                self._endpointer = Endpointer(self.settings.vad)
                self._endpointer.t = end
            self._close(end)

    async def update(self, vad: VadSettings | None, partial_interval: float | None) -> None:
        if vad is not None:
            self.settings.vad = vad
            self._endpointer.settings = vad
            if not vad.enabled and self._utt is None:
                self._open(self.now, event=False)
        if partial_interval:
            self.settings.partial_interval = partial_interval

    async def finish(self) -> None:
        pending = len(self._vad.pending)
        if pending and self.settings.vad.enabled:  # let the VAD see the last partial frame
            for b in self._endpointer.update(self._vad.probabilities(np.zeros(FRAME - pending, np.float32))):
                if b.kind == "end" and self._utt is not None:
                    self._emit(SpeechBoundary("end", min(b.time, self.now)))
                    self._close(min(b.time, self.now), noise=self._endpointer.utterance_is_noise())
        if self._utt is not None:
            if self.settings.vad.enabled:
                self._emit(SpeechBoundary("end", self.now))
            self._close(self.now, noise=self.settings.vad.enabled and self._endpointer.utterance_is_noise())
        if self._partial_task:
            self._partial_task.cancel()
        if self._final_tail is not None:
            await self._final_tail

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    # ---- utterances -----------------------------------------------------------------------
    def _open(self, start: float, event: bool = True) -> None:
        if self._utt is not None:
            return
        self._utt = Utterance(self._next_id, start)
        self._next_id += 1
        self._last_partial_at = self.now - self.settings.partial_interval + FIRST_PARTIAL_AFTER
        if event:
            self._emit(SpeechBoundary("begin", start))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _start_partial(self) -> None:
        if self._partial_task is not None and not self._partial_task.done():
            return  # one partial in flight per session; the scheduler drops stale ones
        utt = self._utt
        self._last_partial_at = self.now
        want_words = self.settings.word_time_offsets or self.now - utt.start > self.max_utterance / 2
        self._partial_task = self._spawn(self._partial(utt, self._audio(utt.start, self.now), want_words))

    async def _partial(self, utt: Utterance, audio: np.ndarray, words: bool) -> None:
        try:
            transcript, busy = await self._transcribe(audio, False, words)
        except Superseded:
            return
        except Exception:
            log.exception("partial decode failed (session %s)", self.settings.session_id)
            return
        if utt.closed or transcript.is_hallucination or not transcript.text:
            return
        if transcript.words:
            utt.hypotheses = (utt.hypotheses + [transcript.words])[-2:]
            utt.hyp_offset = utt.start
        stability = self._stability(utt.partial_text, transcript.text)
        utt.partial_text = transcript.text
        self._emit(self._result(utt.segment_id, transcript, utt.start, utt.start + len(audio) / SAMPLE_RATE,
                                busy, final=False, stability=stability))

    @staticmethod
    def _stability(previous: str, current: str) -> float:
        a, b = previous.split(), current.split()
        if not b:
            return 0.0
        same = 0
        for x, y in zip(a, b):
            if _norm(x) != _norm(y):
                break
            same += 1
        return round(same / len(b), 3)

    def _close(self, end: float, noise: bool = False) -> None:
        utt, self._utt = self._utt, None
        if utt is None:
            return
        utt.closed = True
        if self._partial_task and not self._partial_task.done():
            self._partial_task.cancel()
        if noise and not utt.partial_text:
            self._take_speculation(-1.0)
            return
        audio = self._audio(utt.start, end)
        previous = self._final_tail
        self._final_tail = self._spawn(self._final(utt, audio, end, previous, self._take_speculation(end)))

    async def _final(self, utt: Utterance, audio: np.ndarray, end: float, previous: asyncio.Task | None,
                     speculation: asyncio.Task | None = None) -> None:
        try:
            if speculation is not None:
                transcript, busy = await speculation
            else:
                transcript, busy = await self._transcribe(audio, True, self.settings.word_time_offsets)
        except Exception:
            log.exception("final decode failed (session %s)", self.settings.session_id)
            transcript, busy = Transcript(text=""), 0.0
        if previous is not None:
            await asyncio.shield(previous)
        if transcript.is_hallucination:
            transcript = Transcript(text="")
        if not transcript.text and not utt.partial_text:
            return  # nothing was said and nothing was shown: no result at all
        self._emit(self._result(utt.segment_id, transcript, utt.start, end, busy, final=True, stability=1.0))

    def _speculate(self) -> None:
        """Start the final decode once speech pauses; end early if the text ends a sentence."""
        ep, utt = self._endpointer, self._utt
        if utt is None or not ep.in_speech or not self.sentence_end_silence:
            return
        if self._spec is not None and self._spec.last_speech != ep.last_speech:
            self._take_speculation(-1.0)  # speech resumed: that decode is stale
        quiet = ep.silence_so_far()
        if quiet < SPECULATE_AFTER:
            return
        if self._spec is None or self._spec.last_speech != ep.last_speech:
            end = min(self.now, ep.last_speech + SPECULATE_AFTER)
            task = self._spawn(self._transcribe(self._audio(utt.start, end), True, self.settings.word_time_offsets))
            task.add_done_callback(lambda _t: self._maybe_end_early())
            self._spec = Speculation(ep.last_speech, end, task)
        self._maybe_end_early()

    def _maybe_end_early(self) -> None:
        spec, ep, utt = self._spec, self._endpointer, self._utt
        if (spec is None or utt is None or not ep.in_speech or spec.last_speech != ep.last_speech
                or not spec.task.done() or spec.task.cancelled() or spec.task.exception() is not None):
            return
        transcript, _ = spec.task.result()
        if ep.silence_so_far() >= self.sentence_end_silence and SENTENCE_END.search(transcript.text.strip()):
            ep.force_end()
            self._emit(SpeechBoundary("end", spec.end))
            self._close(spec.end, noise=ep.utterance_is_noise())

    def _take_speculation(self, end: float) -> asyncio.Task | None:
        spec, self._spec = self._spec, None
        if spec is not None and abs(spec.end - end) < 1e-6 and not spec.task.cancelled():
            return spec.task
        if spec is not None and not spec.task.done():
            spec.task.cancel()
        return None

    def _commit_stable_prefix(self) -> None:
        """LocalAgreement: commit the words the last two partial decodes agree on."""
        utt = self._utt
        agreed: list[DecodedWord] = []
        if len(utt.hypotheses) == 2:
            for a, b in zip(*utt.hypotheses):
                if _norm(a.word) != _norm(b.word):
                    break
                agreed.append(b)
        # keep the last agreed word open: it may still grow ("kitchen" -> "kitchens")
        agreed = agreed[:-1]
        if not agreed:
            self._close(self.now)
            self._open(self.now, event=False)
            return
        cut = utt.hyp_offset + agreed[-1].end
        text = "".join(w.word for w in agreed).strip()
        utt.closed = True
        self._utt = None
        if self._partial_task and not self._partial_task.done():
            self._partial_task.cancel()
        transcript = Transcript(text=text, words=agreed, avg_logprob=float(np.mean([np.log(max(w.probability, 1e-6)) for w in agreed])))
        result = self._result(utt.segment_id, transcript, utt.start, cut, 0.0, final=True, stability=1.0,
                              word_offset=utt.hyp_offset)
        previous = self._final_tail

        async def emit_in_order() -> None:
            if previous is not None:
                await asyncio.shield(previous)
            self._emit(result)

        self._final_tail = self._spawn(emit_in_order())
        self._open(cut, event=False)

    def _result(self, segment_id: int, t: Transcript, start: float, end: float, busy: float, *,
                final: bool, stability: float, word_offset: float | None = None) -> Result:
        offset = start if word_offset is None else word_offset
        words = [Word(w.word.strip(), round(offset + w.start, 3), round(offset + w.end, 3), round(w.probability, 3))
                 for w in t.words] if self.settings.word_time_offsets else []
        return Result(segment_id=segment_id, text=t.text, is_final=final, start=round(start, 3), end=round(end, 3),
                      stability=stability, confidence=round(t.confidence, 3), words=words,
                      language=t.language, language_probability=round(t.language_probability, 3),
                      processing_time=busy)
