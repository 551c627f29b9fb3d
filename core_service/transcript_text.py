"""Comparing decoded texts: stability of a partial, and repeats across a cut."""
from __future__ import annotations

import re

from .engines.whisper_decoder import Transcript

MAX_REPEAT_WORDS = 8  # the longest run of words a continuation may repeat from the previous final


def norm(word: str) -> str:
    return re.sub(r"[^\w']+", "", word.lower())


def stability(previous: str, current: str) -> float:
    """Share of `current`'s words that are the same, in order, as `previous`'s first words."""
    a, b = previous.split(), current.split()
    if not b:
        return 0.0
    same = 0
    for x, y in zip(a, b):
        if norm(x) != norm(y):
            break
        same += 1
    return round(same / len(b), 3)


def repeated_words(previous: str, current: str) -> int:
    """How many of `current`'s first words repeat `previous`'s last words: the overlap a cut
    inside continuous speech can produce. One word counts only when it is not a short word
    that speech repeats naturally ("the. The")."""
    prev = [w for w in (norm(x) for x in previous.split()) if w]
    cur = [w for w in (norm(x) for x in current.split()) if w]
    for k in range(min(MAX_REPEAT_WORDS, len(prev), len(cur)), 0, -1):
        if prev[-k:] == cur[:k] and (k > 1 or len(cur[0]) >= 4):
            return k
    return 0


def drop_leading_words(transcript: Transcript, n: int) -> Transcript:
    """`transcript` without its first `n` words (text and word times alike)."""
    if n <= 0:
        return transcript
    text = " ".join(transcript.text.split()[n:])
    words = transcript.words[n:] if len(transcript.words) >= n else []
    return Transcript(text=text, words=words, language=transcript.language,
                      language_probability=transcript.language_probability,
                      avg_logprob=transcript.avg_logprob, no_speech_prob=transcript.no_speech_prob,
                      compression_ratio=transcript.compression_ratio)
