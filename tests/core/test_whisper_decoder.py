"""Guards that keep trimmed-window Whisper decoding honest."""
from __future__ import annotations

import numpy as np

from core_service.engines.whisper_decoder import DecodeRequest, WhisperDecoder
from core_service.models import tiny_en_path
from tests.audio_fixtures import UTTERANCES, silence, speech, wer


def test_a_phrase_looping_to_the_end_is_cut_to_its_first_occurrence():
    assert WhisperDecoder._cut_loop([1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5, 6]) == [1, 2, 3, 4, 5, 6]


def test_short_genuine_repeats_are_kept():
    assert WhisperDecoder._cut_loop([9, 7, 7, 7]) == [9, 7, 7, 7]  # "no no no"
    assert WhisperDecoder._cut_loop([1, 2, 1, 2]) == [1, 2, 1, 2]


def test_a_whole_sentence_written_twice_at_the_end_is_kept_once():
    # "Remember to water the plants before you leave." twice: the full window's repetition
    sentence = list(range(10, 21))
    assert WhisperDecoder._cut_loop([1, 2] + sentence + sentence) == [1, 2] + sentence
    assert WhisperDecoder._cut_loop([1, 2, 3, 4, 1, 2, 3, 4]) == [1, 2, 3, 4, 1, 2, 3, 4]  # a short phrase twice stays


class _Tok:
    timestamp_begin, eot = 1000, 999


def test_text_after_timestamps_go_backwards_is_dropped():
    # <0.00> a b <1.00> <0.00> a b ...  -> the model started over
    ids = [1000, 1, 2, 1050, 1000, 1, 2, 1050]
    assert WhisperDecoder._guarded_text_tokens(ids, _Tok, duration=2.0) == [1, 2]


def test_trimmed_window_matches_the_full_window_on_short_utterances():
    trimmed = WhisperDecoder(str(tiny_en_path()), window="trimmed")
    full = WhisperDecoder(str(tiny_en_path()), window="full")
    for text in UTTERANCES:
        audio = np.concatenate([silence(0.2), speech(text), silence(0.3)])
        a = trimmed.decode([DecodeRequest(audio)])[0].text
        b = full.decode([DecodeRequest(audio)])[0].text
        assert wer(text, a) <= wer(text, b) + 0.15, (a, b)
