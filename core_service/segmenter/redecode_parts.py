"""The pieces of the re-decode strategy that hold no state: its options, the speculation
record, and how a decoded transcript becomes a Result."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..engines.base import Result, Word
from ..engines.whisper_decoder import Transcript
from .endpointer import Endpointer

SENTENCE_END_CHARS = ".?!\u3002\uff1f\uff01"


@dataclass(frozen=True)
class PolicyOptions:
    pre_roll: float = 0.6  # seconds of audio kept before the open utterance (VAD pads its start)
    speculate_after: float = 0.12  # seconds of silence before the final decode starts speculatively (>= pad)
    first_partial_after: float = 0.3  # seconds of speech before the first partial
    min_speech: float = Endpointer.MIN_SPEECH  # voiced seconds that make an utterance confident speech
    weak_max_no_speech: float = 0.5  # a weak utterance keeps its text only below this no-speech probability
    faint_threshold: float = 0.15  # speech probability that still counts as voice at an utterance's end
    min_clip: float = 0.1  # seconds; shorter clips are never decoded
    # Seconds kept after the last voiced frame, whichever way the utterance ends (endpoint,
    # early sentence end, finalize, end of stream): a final's clip never depends on timing.
    pad: float = 0.12
    min_split_seconds: float = 1.0  # an over-long utterance is never cut closer than this to its start


@dataclass
class SessionContext:
    """The session's recent final texts: the decoder's prompt (`condition_on_previous_text`),
    started afresh when the language changes."""

    enabled: bool  # condition_on_previous_text
    texts: list[str] = field(default_factory=list)
    language: str = ""  # of the last final (what language routing follows)
    last_final: str = ""

    MAX_CHARS = 600

    def previous(self) -> str:
        """The recent final text the decoder is prompted with (empty when turned off)."""
        return " ".join(self.texts) if self.enabled else ""

    def key(self) -> tuple[str, str]:
        """What a decode depends on besides its audio: the prompt text and the language of the
        last final."""
        return self.previous(), self.language

    def remember(self, text: str, language: str) -> None:
        """A final went out: it is the previous final now, and part of the context."""
        self.last_final = text
        if language and language != self.language:
            self.texts, self.language = [], language
        self.texts.append(text.strip())
        while len(self.texts) > 1 and sum(len(t) + 1 for t in self.texts) > self.MAX_CHARS:
            self.texts.pop(0)


@dataclass
class Speculation:
    """A final decode started as soon as speech paused, before the endpoint is certain."""

    voice_end: float  # end of the last faintly voiced frame when it was started
    end: float
    task: asyncio.Task
    previous: tuple[str, str] = ("", "")  # the context text and last language it was decoded with


def ends_sentence(text: str) -> bool:
    return text.rstrip("'\")\u201d ").endswith(tuple(SENTENCE_END_CHARS)) if text.strip() else False


def to_result(segment_id: int, t: Transcript, start: float, end: float, busy: float, *, final: bool,
              stability: float, word_offset: float | None = None, with_words: bool = False) -> Result:
    """A Result from a transcript of the clip [start, end); its word times are relative to
    `word_offset` (default: the clip's start)."""
    offset = start if word_offset is None else word_offset
    words = [Word(w.word.strip(), round(offset + w.start, 3), round(offset + w.end, 3), round(w.probability, 3))
             for w in t.words] if with_words else []
    return Result(segment_id=segment_id, text=t.text, is_final=final, start=round(start, 3), end=round(end, 3),
                  stability=stability, confidence=round(t.confidence, 3), words=words,
                  language=t.language, language_probability=round(t.language_probability, 3),
                  processing_time=busy)
