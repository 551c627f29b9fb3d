"""Offline Whisper's no-speech checks and the energy gate (core_service/engines/no_speech.py)."""
from __future__ import annotations

import numpy as np

from core_service.engines.no_speech import (average_logprob, compression_ratio, silent,
                                            whisper_says_no_speech)
from tests.audio_fixtures import noise, silence, speech, UTTERANCES


def test_the_average_log_probability_is_faster_whispers():
    # CTranslate2 scores a sequence by its summed log-probability over its length; faster-whisper
    # recovers the sum and averages it over the tokens and the end token.
    assert average_logprob(-0.5, 9) == -0.45
    assert average_logprob(-1.0, 0) == 0.0


def test_a_repetitive_text_compresses_well():
    assert compression_ratio("the one who is " * 12) > 2.4
    assert compression_ratio("And so my fellow Americans ask not what your country can do for you.") < 2.4


def test_whisper_skips_likely_silence_with_an_unsure_or_repetitive_text_only():
    assert whisper_says_no_speech(0.9, -1.5, 1.0)
    assert whisper_says_no_speech(0.9, -0.5, 3.0)
    assert not whisper_says_no_speech(0.9, -0.5, 1.0)  # sure of its text: Whisper keeps it
    assert not whisper_says_no_speech(0.3, -1.5, 3.0)  # speech


def test_the_energy_gate_hears_nothing_in_silence_and_everything_in_quiet_speech():
    assert silent(silence(8.0)) and silent(np.zeros(0, np.float32))
    assert silent(noise(2.0, 0.0003))  # -70 dBFS: below any microphone's noise floor
    assert not silent(noise(2.0, 0.005))
    assert not silent(speech(UTTERANCES[0]) * 0.01)  # 40 dB quieter than normal speech
    assert not silent(np.concatenate([silence(5.0), speech(UTTERANCES[0])[8000:8480]]))  # 30 ms is enough
