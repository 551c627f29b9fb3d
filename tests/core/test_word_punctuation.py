"""Words carry their punctuation (core_service/engines/word_punctuation.py), as faster-whisper's
own `transcribe()` reports them: the alignment's stand-alone marks join a neighbouring word."""
from __future__ import annotations

from core_service.engines.whisper_decoder import DecodedWord
from core_service.engines.word_punctuation import merge_punctuation


def words(*spec: tuple[str, float]) -> list[DecodedWord]:
    return [DecodedWord(text, start, start + 0.3, 0.5 + start / 100) for text, start in spec]


def test_a_closing_mark_joins_the_word_before_it_which_keeps_its_times():
    merged = merge_punctuation(words((" Ever", 0.0), (" tried", 0.5), (".", 0.8), (" Ever", 1.2), (" failed", 1.5),
                                     ("!", 1.8)))
    assert [w.word for w in merged] == [" Ever", " tried.", " Ever", " failed!"]
    assert (merged[1].start, merged[1].end, merged[1].probability) == (0.5, 0.8, 0.505)


def test_opening_marks_join_the_word_after_them():
    merged = merge_punctuation(words((" He", 0.0), (" said", 0.3), (" \"", 0.6), ("Hi", 0.7), ("!\"", 1.0),
                                     (" (", 1.2), ("yes", 1.3), (")", 1.6)))
    assert [w.word for w in merged] == [" He", " said", " \"Hi!\"", " (yes)"]


def test_marks_outside_faster_whispers_lists_never_stand_alone_either():
    merged = merge_punctuation(words(("...", 0.0), (" and", 0.2), (" so", 0.5), (" ;", 0.8), (" on", 1.0),
                                     (" —", 1.2), (" (", 1.4)))
    assert [w.word for w in merged] == [" ...and", " so;", " on—("]


def test_only_punctuation_is_no_words():
    assert merge_punctuation(words((".", 0.0))) == []
    assert merge_punctuation([]) == []
