"""The real recordings and their degraded versions are what tests/real_speech.py says they are."""
from __future__ import annotations

import numpy as np

from tests.audio_fixtures import SAMPLE_RATE
from tests.real_speech import (NOISE_SNR_DB, REVERB_RT60, load, real_wer, recording_names,
                               room_impulse_response, variant)


def test_every_recording_is_16k_mono_speech_with_a_transcript():
    assert len(recording_names()) >= 3
    for name in recording_names():
        recording = load(name)
        assert recording.transcript and recording.seconds > 2
        assert 0.01 < float(np.sqrt(np.mean(recording.audio ** 2))) < 0.5


def test_noise_is_added_at_the_stated_snr_and_is_deterministic():
    clean = load("sense_and_sensibility").audio
    noisy = variant(load("sense_and_sensibility"), "noise")
    voiced = np.abs(clean) > 0.02
    snr = 10 * np.log10(np.mean(clean[voiced] ** 2) / np.mean((noisy - clean) ** 2))
    assert abs(snr - NOISE_SNR_DB) < 0.5
    assert np.array_equal(noisy, variant(load("sense_and_sensibility"), "noise"))


def test_reverb_decays_by_60_db_over_rt60():
    rir = room_impulse_response()
    assert len(rir) == int(REVERB_RT60 * SAMPLE_RATE) and rir[0] == 1.0
    early = np.sqrt(np.mean(rir[100:900] ** 2))
    late = np.sqrt(np.mean(rir[-800:] ** 2))
    assert 20 * np.log10(early / late) > 50


def test_wer_counts_words_heard_not_how_they_are_written():
    assert real_wer("and mister john dashwood had ten", "And Mr. John Dashwood had 10.") == 0.0
    assert real_wer("ten of clubs", "10 of close") > 0.3
