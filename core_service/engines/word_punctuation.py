"""Words carry their punctuation: Whisper's alignment splits "country." into "country" and ".".

faster-whisper's `transcribe()` merges them back (`merge_punctuations`: closing marks onto the
word before, opening quotes and brackets onto the word after) before it reports words; the
core's decoder aligns tokens itself, so it merges here, for every dialect at once. Marks that
faster-whisper's lists leave alone (";", "…", "—", "¡", …) are merged the same way, so that no
word is ever punctuation alone: word counts, highlighting and per-word confidence see words.

A merged word keeps the times and probability of the word it joined, as in faster-whisper.
"""
from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .whisper_decoder import DecodedWord

# faster-whisper's default prepend_punctuations, plus « ¡ „ ‘: marks that open what follows
PREPENDED = "\"'“¿([{-«¡„‘"


def is_punctuation(text: str) -> bool:
    """True for a non-empty text made only of punctuation (and spaces): not a word on its own."""
    marks = text.strip()
    return bool(marks) and all(unicodedata.category(c).startswith("P") for c in marks)


def merge_punctuation(words: list[DecodedWord]) -> list[DecodedWord]:
    """`words` with every punctuation-only word joined to a neighbour: an opening mark to the
    word after it, any other mark to the word before it (or after it when it comes first)."""
    out: list[DecodedWord] = []
    opening = ""  # opening marks waiting for the next word
    for w in words:
        if not is_punctuation(w.word):
            if opening:
                w = replace(w, word=_join_before(opening, w.word))
                opening = ""
            out.append(w)
        elif _opens(w.word) or not out:
            opening = opening + w.word.strip() if opening else w.word
        else:
            out[-1] = replace(out[-1], word=out[-1].word + w.word.strip())
    if opening:  # marks with no word after them close the last word
        if out:
            out[-1] = replace(out[-1], word=out[-1].word + opening.strip())
        elif words:  # punctuation and nothing else: no words at all
            return []
    return out


def _opens(word: str) -> bool:
    """An opening mark: one of faster-whisper's prepended marks, written before a space
    (Whisper's tokens carry the space before a word, so " (" opens and ")" closes)."""
    return word.startswith(" ") and all(c in PREPENDED for c in word.strip())


def _join_before(opening: str, word: str) -> str:
    """`opening` marks in front of `word`, after the leading space of either (Whisper's style:
    a word's text starts with the space before it)."""
    lead = _lead(opening) or _lead(word)
    return lead + opening.strip() + word.lstrip()


def _lead(text: str) -> str:
    return text[:len(text) - len(text.lstrip())]
