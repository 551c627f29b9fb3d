"""The re-decode strategy: streaming for engines that only transcribe whole clips (Whisper).

The segmenter (Silero VAD and its endpointer) endpoints the audio into utterances. While an
utterance is open, its audio so far is re-decoded every `partial_interval` seconds for partial
results; when speech ends (silence >= min_silence) the utterance is decoded once more and
emitted as final. An utterance that grows past `max_utterance` seconds is cut at its longest
pause (or, in speech with no pause at all, at that length) and goes on as a new utterance.

What reaches the decoder, and what comes out, is decided from the audio and the VAD alone,
never from how fast decodes come back, so a busy machine gives the same finals, only later:
- an utterance is confident speech when it holds `min_speech` seconds of frames at the VAD
  threshold; only those get partials and speculative finals;
- a weak utterance (the VAD began one but heard less than that) gets exactly one final decode,
  and its text is kept only when Whisper agrees there was speech (no-speech probability below
  `weak_max_no_speech`); a cough or a click ends there, logged at debug. With VAD off every
  utterance is weak, partials included: no VAD vouches for it, so silence and noise, which
  Whisper would write "you" or "." for, give no text (engines/no_speech.py);
- clips end at the last voiced frame plus a pad (trailing silence never reaches the decoder),
  clips shorter than `min_clip` are never decoded, and a new utterance never starts before the
  previous one ended, so no audio is decoded into two finals;
- every utterance closed ends in exactly one final decode whose text is emitted once; a final
  with no text is emitted (empty) only to close a partial the client has already seen.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import numpy as np

from ..engines.base import SAMPLE_RATE, Emit, EngineStream, SessionSettings, SpeechBoundary, VadSettings
from ..engines.whisper_decoder import Transcript
from ..scheduler import Superseded
from ..transcript_text import drop_leading_words, repeated_words, stability
from ..vad import SileroVad
from .endpointer import Boundary, Endpointer
from .finals import Finals
from .redecode_parts import PolicyOptions, SessionContext, to_result
from .segmenter import Segmenter, Utterance
from .sentence_end import SentenceEnds

log = logging.getLogger(__name__)

# transcribe(audio, final, word_timestamps, previous_text, last_language) -> (transcript, compute seconds):
# previous_text is the session's recent final text (the prompt), last_language the language of
# its last final (what language routing follows).
Transcribe = Callable[[np.ndarray, bool, bool, str, str], Awaitable[tuple[Transcript, float]]]

class RedecodeStream(EngineStream):
    def __init__(self, settings: SessionSettings, transcribe: Transcribe, emit: Emit,
                 vad_model: SileroVad, *, max_utterance: float = 15.0, sentence_end_silence: float = 0.2,
                 sentence_end_after: float = 5.0, options: PolicyOptions | None = None):
        self.settings = settings
        self.options = options or PolicyOptions()
        self._transcribe = transcribe
        self._emit = emit
        self._seg = Segmenter(settings.vad, vad_model, self.options.pre_roll)
        self.max_utterance = max_utterance
        # A pause this long after text that ends a sentence ends the utterance (0 = off).
        self.sentence_end_silence = sentence_end_silence
        self.sentence_end_after = sentence_end_after  # ... in utterances at least this long (s)
        self._sentences = SentenceEnds(self)
        self._held: list[Boundary] = []  # VAD boundaries not applied yet (see _settle)
        self._settling = False
        self._closed = False
        self._utt: Utterance | None = None
        self._floor = 0.0  # end of the last closed utterance: the next one starts no earlier
        self._last_partial_at = 0.0
        self._partial_task: asyncio.Task | None = None
        self._context = SessionContext(settings.condition_on_previous_text)
        self._progress = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._finals = Finals(settings, self.options, self._context, decode=self._decode_clip, emit=emit,
                              spawn=self._spawn, progress=self._progress, on_done=self._settle)

    # ---- audio time helpers ---------------------------------------------------------------
    @property
    def now(self) -> float:
        return self._seg.now

    @property
    def _faint(self) -> float:
        """Frames at or above this probability may hold the soft end of a word (a trailing
        consonant, speech over a noisy line): an utterance's clip ends after the last of them."""
        return min(self.options.faint_threshold, max(self.settings.vad.threshold - 0.15, 0.01))

    def _voice_end(self, start: float, end: float) -> float | None:
        return self._seg.speech.last_voice_end(start, end, self._faint)

    def _audio(self, start: float, end: float) -> np.ndarray:
        return self._seg.clip(start, end)

    def _confident(self, utt: Utterance, end: float) -> bool:
        if not self.settings.vad.enabled:
            return True
        return self._seg.speech.voiced(utt.start, end, self.settings.vad.threshold) >= self.options.min_speech

    def backlog_seconds(self) -> float:
        """Seconds of accepted speech whose final has not been emitted yet."""
        open_part = self.now - self._utt.start if self._utt is not None else 0.0
        return self._finals.undecoded + max(open_part, 0.0)

    async def wait_backlog_below(self, seconds: float) -> None:
        """Wait until the undecoded backlog is below `seconds`, as long as decodes are under way
        that can bring it down (finals of closed utterances, or the sentence-end decodes an
        endpoint waits for); otherwise only more audio can end the open utterance."""
        while self.backlog_seconds() >= seconds and self._decodes_under_way():
            self._progress.clear()
            await self._progress.wait()

    def _decodes_under_way(self) -> bool:
        return self._finals.in_flight() or bool(self._held and self._sentences.pending())

    # ---- EngineStream ---------------------------------------------------------------------
    async def accept(self, audio: np.ndarray) -> None:
        boundaries = await self._seg.hear(audio)
        if self.settings.vad.enabled:
            self._follow_vad(boundaries)  # boundaries, sentence ends, long utterances
        else:
            if self._utt is None:
                self._open(max(self.now - len(audio) / SAMPLE_RATE, 0.0), event=False)
            while self._utt is not None and self.now - self._utt.start >= self.max_utterance:
                self._split_long()
        utt = self._utt
        if (utt is not None and not self._held and self.settings.interim_results
                and self.now - self._last_partial_at >= self.settings.partial_interval and self._confident(utt, self.now)):
            self._start_partial()
        self._seg.forget_before(self._utt.start if self._utt else None)

    def _follow_vad(self, boundaries: list[Boundary]) -> None:
        for b in boundaries:
            if b.kind == "end":  # the clip may end after the last faint voice, up to where the endpoint fired
                b = Boundary("end", min(self._seg.endpointer.t, b.time - Endpointer.PAD + self.settings.vad.min_silence))
            self._held.append(b)
        self._settle()

    def _settle(self, force: bool = False) -> None:
        """Apply the VAD's boundaries in order. An endpoint waits until the sentence-end decodes
        of the pauses before it are back (see sentence_end.py), so where utterances end never
        depends on how fast decodes come back; `force` (finalize) does not wait."""
        if self._settling or self._closed:
            return
        self._settling = True
        try:
            while True:
                held_end = next((b.time for b in self._held if b.kind == "end"), None)
                limit = self._seg.speech.end if held_end is None else held_end
                if not force and self._sentences.follow(limit, held_end is not None):
                    continue  # split: the new utterance's pauses want their decodes
                utt = self._utt
                if utt is not None and limit - utt.start >= self.max_utterance:
                    if not force and self._sentences.undecided_before(utt.start + self.max_utterance):
                        return  # a sentence may end before the length limit: wait for those decodes
                    self._split_long()
                    continue
                if not self._held:
                    return
                b = self._held[0]
                if b.kind == "begin":  # speech starts where its faint onset does, as after a split
                    self._held.pop(0)
                    onset = self._seg.speech.onset(b.time + Endpointer.PAD + 1e-6, self._faint)
                    self._open(min(b.time, max(onset - Endpointer.PAD, 0.0)))
                elif self._utt is None:
                    self._held.pop(0)
                elif force or not self._sentences.undecided_before(b.time):
                    self._held.pop(0)
                    self._end(b.time, trim=True)
                else:
                    return  # wait for those decodes
        finally:
            self._settling = False
            self._progress.set()  # the backlog may have shrunk

    async def finalize(self) -> None:
        self._settle(force=True)
        self._end_now()

    def _end_now(self) -> None:
        """End the open utterance here (finalize, end of stream): its clip still ends after its
        last faint voice, never in the silence that followed."""
        if self._utt is None:
            return
        if self.settings.vad.enabled:
            self._seg.endpointer.force_end()
            self._end(self.now, trim=True)
        else:
            self._close(self.now)

    async def update(self, vad: VadSettings | None, partial_interval: float | None) -> None:
        if vad is not None:
            self.settings.vad = vad
            self._seg.set_vad(vad, in_utterance=self._utt is not None)
            if not vad.enabled and self._utt is None:
                self._open(self.now, event=False)
        if partial_interval:
            self.settings.partial_interval = partial_interval

    async def finish(self) -> None:
        if self.settings.vad.enabled and (last := await self._seg.hear_last_frame()) is not None:
            self._follow_vad(last)  # the VAD judged the last partial frame
        # Every pause's sentence-end decode counts, held endpoint or not: audio that ends
        # mid-utterance (a file sent at once) is split where its sentences end, as it would be
        # had it arrived at the speed of speech.
        while decodes := self._sentences.pending():
            await asyncio.wait(decodes)
            self._settle()
        self._settle(force=True)
        self._end_now()
        if self._partial_task:
            self._partial_task.cancel()
        await self._finals.drain()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    # ---- utterances -----------------------------------------------------------------------
    def _open(self, start: float, event: bool = True, continues: bool = False) -> None:
        if self._utt is not None:
            return
        start = max(start, self._floor)
        self._utt = Utterance(self._seg.new_id(), start, continues=continues)
        self._last_partial_at = self.now - self.settings.partial_interval + self.options.first_partial_after
        if event:
            self._emit(SpeechBoundary("begin", start))

    def _end(self, end: float, trim: bool = False) -> None:
        """End of speech: close the open utterance and say so."""
        end = self._close(end, trim=trim)
        self._emit(SpeechBoundary("end", end))

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
        self._partial_task = self._spawn(self._partial(utt, self._audio(utt.start, self.now),
                                                       self.settings.word_time_offsets))

    async def _partial(self, utt: Utterance, audio: np.ndarray, words: bool) -> None:
        try:
            transcript, busy = await self._transcribe(audio, False, words, *self._context.key())
        except Superseded:
            return
        except Exception:
            log.exception("partial decode failed (session %s)", self.settings.session_id)
            return
        if utt.closed or transcript.is_hallucination or not transcript.text:
            return
        if not self.settings.vad.enabled and transcript.no_speech_prob >= self.options.weak_max_no_speech:
            return  # no VAD vouches for this audio: Whisper must hear speech in it (as for finals)
        if utt.continues and repeated_words(self._context.last_final, transcript.text):
            transcript = drop_leading_words(transcript, repeated_words(self._context.last_final, transcript.text))
        steady = stability(utt.partial_text, transcript.text)
        utt.partial_text = transcript.text
        self._emit(to_result(utt.segment_id, transcript, utt.start, utt.start + len(audio) / SAMPLE_RATE, busy,
                             final=False, stability=steady, with_words=self.settings.word_time_offsets))

    def _close(self, end: float, trim: bool = False) -> float:
        """Close the open utterance at `end` (at its last voiced frame plus the pad, with `trim`)
        and schedule its one final (finals.py). Returns where it ended."""
        utt, self._utt = self._utt, None
        if utt is None:
            return end
        utt.closed = True
        if self._partial_task and not self._partial_task.done():
            self._partial_task.cancel()
        if trim and self.settings.vad.enabled:
            voice = self._voice_end(utt.start, end)
            end = min(end, voice + self.options.pad) if voice is not None else utt.start
        end = max(end, utt.start)
        self._floor = max(self._floor, end)
        speculation = self._sentences.take(end)
        if end - utt.start < self.options.min_clip:
            log.debug("session %s utterance %d (%.2f-%.2f s): too short to decode",
                      self.settings.session_id, utt.segment_id, utt.start, end)
            if speculation is not None:
                speculation.task.cancel()
            if utt.partial_text:
                self._finals.close_partial(utt, end)
            return end
        # With VAD off no utterance is vouched for: each is weak, its text kept only when
        # Whisper hears speech in it (finals.py), so silence and noise invent nothing.
        weak = not self.settings.vad.enabled or not self._confident(utt, end)
        self._finals.add(utt, self._audio(utt.start, end), end, weak, speculation)
        return end

    # ---- early end of a sentence ----------------------------------------------------------
    def decode_key(self) -> tuple[str, str]:
        return self._context.key()

    async def _decode_clip(self, audio: np.ndarray, key: tuple[str, str]) -> tuple[Transcript, float]:
        return await self._transcribe(audio, True, self.settings.word_time_offsets, *key)

    def _split_at(self, end: float, resume: float) -> None:
        """The sentence ended at `end` and the speaker went on at `resume`: the utterance so far
        is final, what follows is a new one."""
        self._end(end)
        self._open(max(end, resume - Endpointer.PAD))

    # ---- over-long utterances -------------------------------------------------------------
    def _split_long(self) -> None:
        """An utterance reached `max_utterance`: cut it at its longest pause within that length
        (where the words are, from the VAD alone), or at that length in speech with no pause."""
        utt = self._utt
        window_end = utt.start + self.max_utterance
        pause = None
        if self.settings.vad.enabled:
            pause = self._seg.speech.best_pause(utt.start + self.options.min_split_seconds, window_end, self._faint)
        cut = pause if pause is not None else window_end
        self._close(cut, trim=pause is not None)
        self._floor = max(self._floor, cut)
        self._open(cut, event=False, continues=pause is None)
