"""Pure parts of the native-streaming segmenter: audio history and chunk-level word times."""
from __future__ import annotations

import pytest

from core_service.segmenter.native_incremental import timed_words
from core_service.segmenter.segmenter import AudioHistory


def test_words_are_timed_by_the_decoding_step_that_emitted_them():
    # "the cat" emitted by the step ending at 1.6 s, "sat" completed at 2.2 s; steps are 0.6 s
    text = "the cat sat"
    emitted = [(0, 1.0), (7, 1.6), (9, 1.9), (11, 2.2)]
    words = timed_words(text, emitted, start=0.5, resolution=0.6)
    assert [w.word for w in words] == ["the", "cat", "sat"]
    assert (words[0].start, words[0].end) == (1.0, 1.6)
    assert words[1].start == 1.6 and words[1].end == 1.6  # never before the previous word's end
    assert words[2].start == pytest.approx(1.6) and words[2].end == 2.2
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))


def test_cjk_characters_are_words_and_times_never_precede_the_segment():
    words = timed_words("你好世界", [(2, 0.7), (4, 1.3)], start=0.4, resolution=0.6)
    assert [w.word for w in words] == ["你", "好", "世", "界"]
    assert words[0].start == 0.4 and words[-1].end == 1.3


def test_audio_history_slices_by_absolute_sample_index():
    import numpy as np

    h = AudioHistory()
    h.append(np.arange(10, dtype=np.float32))
    h.trim_before(4)
    h.append(np.arange(10, 15, dtype=np.float32))
    assert (h.start, h.end) == (4, 15)
    assert h.slice(2, 7).tolist() == [4, 5, 6]
    assert len(h.slice(20, 30)) == 0
