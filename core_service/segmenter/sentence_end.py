"""Ending an utterance where a sentence ends, decided from the audio alone.

The rule: an utterance at least `sentence_end_after` seconds long ends at the first pause of at
least `sentence_end_silence` seconds whose decode (of the utterance from its start to the pause)
ends a sentence. Shorter utterances wait for the endpoint: cut at every sentence, read speech
becomes clips of a few seconds, and Whisper decodes those worse than it decodes the sentences
together (bench/accuracy.py: "10 of clubs. 4 Queen of Cloves." alone, "4 queen of clubs" in
one clip with its neighbours; docs/performance.md). Every pause of at
least `speculate_after` seconds gets that decode as soon as it is heard, at final priority: it
is the utterance's final if the utterance ends there, so the final is usually out the moment
the pause is long enough.

On an idle machine the decode is back before the pause reaches `sentence_end_silence`, and the
utterance ends during the pause. On a busy one it may come back after the speaker went on: the
utterance is then split where the sentence ended all the same (the part before the pause
becomes the final, the rest a new utterance), so a busy machine gives the same utterances and
finals as an idle one, only later, and never one long utterance that grows ever slower to
decode.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .redecode_parts import Speculation, ends_sentence

if TYPE_CHECKING:
    from .redecode import RedecodeStream


# Sentence-end decodes out at once per session: speech chopped by many short pauses (or a
# client sending such noise) costs at most this many decodes in flight.
MAX_OUTSTANDING = 3


class SentenceEnds:
    def __init__(self, stream: "RedecodeStream"):
        self.stream = stream
        self.specs: list[Speculation] = []  # one per pause of the open utterance, in order
        self.unstarted: list[float] = []  # pauses whose decode waits for a place (MAX_OUTSTANDING)

    def clear(self) -> None:
        for spec in self.specs:
            spec.task.cancel()
        self.specs, self.unstarted = [], []

    def take(self, end: float) -> Speculation | None:
        """The decode of the open utterance up to `end`, if one was made with the context a
        final would use now; every other one is dropped."""
        found = None
        key = self.stream.decode_key()
        for spec in self.specs:
            if found is None and abs(spec.end - end) < 1e-6 and spec.previous == key and not spec.task.cancelled():
                found = spec
            else:
                spec.task.cancel()
        self.specs, self.unstarted = [], []
        return found

    def follow(self, limit: float, endpoint_held: bool) -> bool:
        """Start decodes for the open utterance's pauses up to `limit` (the end of the audio, or
        the held endpoint), and end or split the utterance where the rule says. True when it
        split the utterance (the new one's pauses want their decodes too)."""
        s = self.stream
        utt = s._utt
        if utt is None or not s.sentence_end_silence or not s.settings.vad.enabled:
            return False
        opts = s.options
        pauses = s._seg.speech.pauses(utt.start, limit, s._faint, opts.speculate_after)
        resumed = dict(pauses)
        key = s.decode_key()
        kept = []
        for spec in self.specs:
            resume = resumed.get(spec.voice_end, -1.0)
            gone = resume == -1.0  # not a pause of this utterance any more
            too_short = resume is not None and resume != -1.0 and resume - spec.voice_end < s.sentence_end_silence
            if gone or too_short or spec.previous != key:  # a stale one is decoded again below
                spec.task.cancel()
            else:
                kept.append(spec)
        self.specs = kept
        have = {spec.voice_end for spec in self.specs}
        self.unstarted = []
        for voice_end, resume in pauses:
            if voice_end in have or (resume is not None and resume - voice_end < s.sentence_end_silence):
                continue
            if not s._confident(utt, voice_end) or voice_end - utt.start < s.sentence_end_after:
                continue
            if len(self.pending()) >= MAX_OUTSTANDING:
                # the rest start as these come back: decisions go in order, so nothing changes but when
                self.unstarted.append(voice_end)
                continue
            end = voice_end + opts.pad
            task = s._spawn(s._decode_clip(s._audio(utt.start, end), key))
            task.add_done_callback(lambda _t: self.stream._settle())
            self.specs.append(Speculation(voice_end, end, task, key))
        self.specs.sort(key=lambda spec: spec.voice_end)
        return self._decide(resumed, limit, endpoint_held)

    def _ready(self) -> bool:
        """Decisions wait for the finals before this utterance: they are its decodes' context."""
        return not self.stream._finals.in_flight()

    def _decide(self, resumed: dict[float, float | None], limit: float, endpoint_held: bool) -> bool:
        s = self.stream
        if not self._ready():
            return False
        for spec in list(self.specs):
            if not spec.task.done():
                return False  # decide in order: an earlier pause may still end the sentence
            if spec.task.cancelled() or spec.task.exception() is not None:
                continue
            transcript, _ = spec.task.result()
            if not ends_sentence(transcript.text):
                continue
            resume = resumed.get(spec.voice_end)
            if resume is None:  # the pause goes on
                if endpoint_held or limit - spec.voice_end < s.sentence_end_silence:
                    return False  # the endpoint closes it anyway, or not long enough yet
                s._seg.endpointer.force_end()
                s._end(spec.end)
                return False
            s._split_at(spec.end, resume)
            return True
        return False

    def undecided_before(self, t: float) -> bool:
        """Whether a decode of a pause before `t` that could end the sentence is still out."""
        return (any(v < t for v in self.unstarted)
                or any(spec.voice_end < t and (not spec.task.done() or not self._ready()) for spec in self.specs))

    def pending(self) -> list:
        return [spec.task for spec in self.specs if not spec.task.done()]
