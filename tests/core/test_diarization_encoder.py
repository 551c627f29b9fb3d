"""The speaker encoder's port (core_service/diarization/) against resemblyzer's own VoiceEncoder."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from core_service.diarization.encoder import SpeakerEncoder
from core_service.diarization.features import mel_spectrogram, normalize_volume
from tests.real_speech import load


@pytest.fixture(scope="module")
def resemblyzer():
    """resemblyzer's VoiceEncoder and audio module. It is installed --no-deps: its audio module
    imports webrtcvad for `trim_long_silences` only, which embed_utterance never calls, so an empty
    module stands in for it; librosa (its mel spectrogram) must be installed."""
    pytest.importorskip("librosa")
    sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))
    from resemblyzer import audio
    from resemblyzer.voice_encoder import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False), audio


@pytest.mark.parametrize("name", ["jfk", "cards"])
def test_embedding_of_a_real_recording_matches_resemblyzer(resemblyzer, name):
    reference_encoder, audio = resemblyzer
    wav = audio.normalize_volume(load(name).audio, -30, increase_only=True)
    reference = reference_encoder.embed_utterance(wav)
    # resemblyzer's own partial windows, embedded by the port
    wav_slices, mel_slices = reference_encoder.compute_partial_slices(len(wav), 1.3, 0.75)
    mel = mel_spectrogram(np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav)))))
    ours = SpeakerEncoder.shared().embed_mels(np.array([mel[s] for s in mel_slices])).mean(axis=0)
    cosine = float(ours @ reference / np.linalg.norm(ours))
    assert cosine >= 0.99


def test_mel_spectrogram_matches_resemblyzers(resemblyzer):
    _, audio = resemblyzer
    wav = normalize_volume(load("goforward").audio)
    np.testing.assert_allclose(mel_spectrogram(wav), audio.wav_to_mel_spectrogram(wav), rtol=1e-3, atol=1e-4)
