"""The speaker encoder's input features: resemblyzer 0.1.4's, computed in numpy.

resemblyzer (`audio.py`, `hparams.py`) feeds its GE2E encoder a *power* (not log) mel spectrogram
of 16 kHz audio: librosa's `melspectrogram` with a 25 ms periodic Hann window (400 samples), a
10 ms hop (160), 40 Slaney-normalised mel bands from 0 to 8 kHz, frames centred with zero padding
(librosa 0.10+), after `normalize_volume(wav, -30 dBFS, increase_only=True)`. librosa and its
dependencies are not needed for these few lines; `tests/core/test_diarization_encoder.py` holds
the port to resemblyzer's own `VoiceEncoder.embed_utterance`.
"""
from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
WINDOW_FRAMES = 160  # frames in one encoder window (1.6 s)
TARGET_DBFS = -30.0
_INT16_MAX = 2 ** 15 - 1


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    mels = f / (200.0 / 3)
    log_region = f >= 1000.0
    mels[log_region] = 15.0 + np.log(f[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    freqs = m * (200.0 / 3)
    log_region = m >= 15.0
    freqs[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log_region] - 15.0))
    return freqs


@functools.cache
def mel_filterbank() -> np.ndarray:
    """[N_MELS, N_FFT // 2 + 1] triangular filters with Slaney area normalisation."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([SAMPLE_RATE / 2]))[0],
                                   N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


@functools.cache
def _window() -> np.ndarray:
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)  # periodic Hann


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """Raise quiet audio to -30 dBFS (never lower loud audio), as resemblyzer's preprocessing."""
    rms = float(np.sqrt(np.mean((wav.astype(np.float64) * _INT16_MAX) ** 2))) if wav.size else 0.0
    if rms <= 0:
        return wav
    change = TARGET_DBFS - 20 * np.log10(rms / _INT16_MAX)
    return wav if change < 0 else (wav * (10 ** (change / 20))).astype(np.float32)


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """[frames, N_MELS] power mel spectrogram; frames = 1 + len(wav) // HOP (centred frames)."""
    padded = np.pad(wav.astype(np.float32, copy=False), N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spectrum = np.abs(np.fft.rfft(padded[idx] * _window(), axis=1)) ** 2
    return (spectrum.astype(np.float32) @ mel_filterbank().T).astype(np.float32)
