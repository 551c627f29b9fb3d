"""Conversation items of a Realtime transcription session, and their append-only deltas.

Each item's `delta` events concatenate to its `completed` transcript; a delta is never
retracted. A partial result's words are sent once two consecutive partials of the utterance
agree on them (the newest partial's last word is held back: it may be a word cut in half). The
final sends the words after those already sent. When the final disagrees with words already
sent (rare: two partials agreed on them), the sent words stand and the final contributes only
its words after as many words as were sent; so `completed` is always exactly what the deltas
said, at the cost of those words being the partials' rather than the final's.

With diarization (`gpt-4o-transcribe-diarize`) each final's words in the transcript (`Item.added`)
are cut into runs of one speaker (`speaker_segments`), so the segments of an item concatenate to
its `completed` transcript too.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from bridges.openai.formats import Final, speaker_runs


def words_of(text: str) -> list[str]:
    return text.split()


def agreed(previous: list[str], current: list[str]) -> list[str]:
    """The words two consecutive partials agree on, from the start, less the newest's last."""
    common = []
    for a, b in zip(previous, current[:-1]):
        if a != b:
            break
        common.append(b)
    return common


@dataclass
class Item:
    id: str
    start: float = 0.0  # seconds of audio from the stream's start
    end: float = 0.0
    committed: bool = False
    completed: bool = False
    done: list[str] = field(default_factory=list)  # the words of the item's finals so far
    sent: list[str] = field(default_factory=list)  # the words its deltas carried
    previous: list[str] = field(default_factory=list)  # the last partial's words
    added: list[str] = field(default_factory=list)  # the words the last final added to the transcript

    @property
    def transcript(self) -> str:
        return " ".join(self.sent)

    def partial(self, text: str) -> str:
        """The delta a partial allows ("" for none)."""
        current = words_of(text)
        stable = agreed(self.previous, current)
        self.previous = current
        return self._send(self.done + stable)

    def final(self, text: str) -> str:
        """The delta a final makes: the words not sent yet."""
        self.previous = []
        delta = self._send(self.done + words_of(text))
        self.added, self.done = self.sent[len(self.done):], list(self.sent)
        return delta

    def _send(self, target: list[str]) -> str:
        if len(target) <= len(self.sent):
            return ""
        new = target[len(self.sent):]
        lead = " " if self.sent else ""
        self.sent += new
        return lead + " ".join(new)


def speaker_segments(words: list[str], final: Final) -> list[tuple[int, float, float, str]]:
    """(speaker, start, end, text) of each run of one speaker among `words` (what `final` added to
    its item's transcript), each word taking the speaker and times of the final's word at its
    place (the same word, unless the transcript kept the partials' words)."""
    if not words:
        return []
    if not final.words:
        return [(final.speaker, final.start, final.end, " ".join(words))]
    at = [min(i * len(final.words) // len(words), len(final.words) - 1) for i in range(len(words))]
    aligned = replace(final, words=tuple((w, *final.words[j][1:]) for w, j in zip(words, at)),
                      word_speakers=tuple(final.word_speakers[j] if j < len(final.word_speakers) else final.speaker
                                          for j in at))
    return speaker_runs(aligned)
