"""The re-decode strategy's finals: every closed utterance gets exactly one final decode, run
after the finals before it (so its prompt holds exactly their text) and emitted in order.

A speculative decode of the same clip with the same prompt is the final when there is one;
otherwise the clip is decoded afresh, tried twice. A failure is logged and gives an empty text,
never a lost final nor one that holds back the next. A final with no text (no speech, noise,
only words the previous final already had) is emitted, empty, only to close a partial the
client has already seen.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import numpy as np

from ..engines.base import SAMPLE_RATE, Emit, Result, SessionSettings
from ..engines.whisper_decoder import Transcript
from ..transcript_text import drop_leading_words, repeated_words
from .redecode_parts import PolicyOptions, SessionContext, Speculation, to_result
from .segmenter import Utterance

log = logging.getLogger(__name__)

# decode(audio, context key) -> (transcript, compute seconds): a final decode of `audio`.
Decode = Callable[[np.ndarray, tuple[str, str]], Awaitable[tuple[Transcript, float]]]


class Finals:
    """The queue of finals of one session's closed utterances: `undecoded` seconds of them are
    not out yet; `tail` is the last one scheduled."""

    def __init__(self, settings: SessionSettings, options: PolicyOptions, context: SessionContext, *,
                 decode: Decode, emit: Emit, spawn: Callable[..., asyncio.Task], progress: asyncio.Event,
                 on_done: Callable[[], None]):
        self.settings = settings
        self.options = options
        self.context = context  # the session's prompt: read before each final, added to after it
        self._decode = decode
        self._emit = emit
        self._spawn = spawn
        self._progress = progress  # set whenever `undecoded` shrank
        self._on_done = on_done  # called as each final is out
        self.tail: asyncio.Task | None = None  # finals are emitted in order
        self.undecoded = 0.0  # seconds of closed utterances whose final is not out yet

    def in_flight(self) -> bool:
        """Whether a final scheduled is not out yet."""
        return self.tail is not None and not self.tail.done()

    async def drain(self) -> None:
        """Wait for every final scheduled so far."""
        if self.tail is not None:
            await self.tail

    def add(self, utt: Utterance, audio: np.ndarray, end: float, weak: bool,
            speculation: Speculation | None) -> None:
        """Schedule the one final of `utt`, closed at `end`, whose clip is `audio`; `weak` when
        the VAD heard too little speech in it to trust it without Whisper's no-speech test."""
        self.undecoded += end - utt.start
        self._chain(self._final(utt, audio, end, weak, speculation))

    def close_partial(self, utt: Utterance, end: float) -> None:
        """`utt` is too short to decode: an empty final, in order, closes the partial the client saw."""
        result = self._result(utt, Transcript(""), end, 0.0)

        async def step() -> None:
            self._emit(result)
        self._chain(step)

    def _chain(self, step) -> None:
        """Run `step()` after the finals scheduled before it: finals go out in order, and one
        that failed never holds back the next."""
        previous = self.tail

        async def run() -> None:
            if previous is not None:
                try:
                    await asyncio.shield(previous)
                except Exception:
                    pass  # logged where it failed
            await step()

        self.tail = self._spawn(run())
        self.tail.add_done_callback(lambda _t: self._on_done())  # a final is out: decisions may go on

    def _final(self, utt: Utterance, audio: np.ndarray, end: float, weak: bool,
               speculation: Speculation | None):
        async def step() -> None:
            # Decoded after the finals before it, so its prompt holds exactly their text.
            try:
                transcript, busy = await self._decode_final(audio, speculation)
            finally:
                self.undecoded = max(self.undecoded - (end - utt.start), 0.0)
                self._progress.set()
            try:
                self._deliver(utt, transcript, end, busy, weak)
            except Exception:
                log.exception("session %s: delivering a final failed", self.settings.session_id)
        return step

    async def _decode_final(self, audio: np.ndarray, speculation: Speculation | None) -> tuple[Transcript, float]:
        """The final decode: the speculation when it decoded exactly this clip with the same
        prompt, else a fresh decode, tried twice. A failure is logged and gives an empty text,
        never a lost final."""
        key = self.context.key()
        if speculation is not None and speculation.previous == key:
            try:
                return await speculation.task
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise
            except Exception:
                log.warning("speculative decode failed (session %s); decoding again", self.settings.session_id,
                            exc_info=True)
        elif speculation is not None:
            speculation.task.cancel()
        for attempt in (1, 2):
            try:
                return await self._decode(audio, key)
            except Exception:
                log.warning("final decode failed (session %s, attempt %d)", self.settings.session_id, attempt,
                            exc_info=True)
        log.error("session %s: a %.2f s utterance could not be decoded", self.settings.session_id,
                  len(audio) / SAMPLE_RATE)
        return Transcript(text=""), 0.0

    def _deliver(self, utt: Utterance, transcript: Transcript, end: float, busy: float, weak: bool) -> None:
        why = ""
        if transcript.is_hallucination:
            why = "no speech (Whisper's no-speech test)"
        elif weak and transcript.no_speech_prob >= self.options.weak_max_no_speech:
            why = f"noise (VAD heard little speech, no-speech probability {transcript.no_speech_prob:.2f})"
        elif not transcript.text.strip():
            why = "empty text"
        if not why and utt.continues:
            transcript = drop_leading_words(transcript, repeated_words(self.context.last_final, transcript.text))
            why = "" if transcript.text.strip() else "only words already in the previous final"
        if why:
            log.debug("session %s utterance %d (%.2f-%.2f s): %s, no final text (%r)", self.settings.session_id,
                      utt.segment_id, utt.start, end, why, transcript.text)
            if utt.partial_text:  # close the partial the client saw
                self._emit(self._result(utt, Transcript(""), end, busy))
            return
        log.debug("session %s utterance %d (%.2f-%.2f s): final %r", self.settings.session_id, utt.segment_id,
                  utt.start, end, transcript.text)
        self.context.remember(transcript.text, transcript.language)
        self._emit(self._result(utt, transcript, end, busy))

    def _result(self, utt: Utterance, t: Transcript, end: float, busy: float) -> Result:
        return to_result(utt.segment_id, t, utt.start, end, busy, final=True, stability=1.0,
                         with_words=self.settings.word_time_offsets)
