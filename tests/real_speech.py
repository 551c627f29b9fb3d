"""Real human recordings with known transcripts, their noisy and reverberant versions, and WER.

The recordings live in tests/fixtures/real/ (16 kHz mono FLAC, one `<name>.txt` transcript
beside each, one line per utterance; README.md there gives each clip's source and licence):
English ones at the top (the accuracy grid), other languages in `languages/`, each named
`<ISO 639-1 code>_<source>_<clip>` (`load_language`).
Noise and reverberation are made here, deterministically (fixed seeds), never committed:

- `noise`: pink noise at `NOISE_SNR_DB` (10 dB) signal-to-noise ratio over the whole file;
- `reverb`: the file convolved with a synthetic room impulse response (exponentially decaying
  noise, RT60 `REVERB_RT60` = 0.6 s, after a direct path), scaled back to the clean peak.

`offline_transcript()` is the reference a streaming result is held to: the same local weights
the core loads, on the whole file, with faster-whisper's own `transcribe()` defaults (int8, as
the core runs them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from tests.audio_fixtures import SAMPLE_RATE, normalized_words, wer

REAL = Path(__file__).parent / "fixtures" / "real"
LANGUAGES = REAL / "languages"
NOISE_SNR_DB = 10.0
REVERB_RT60 = 0.6


@dataclass(frozen=True)
class RealRecording:
    name: str
    audio: np.ndarray  # 16 kHz mono float32
    transcript: str
    language: str = "en"  # ISO 639-1

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def recording_names() -> list[str]:
    return sorted(p.stem for p in REAL.glob("*.flac"))


def language_recording_names() -> list[str]:
    return sorted(p.stem for p in LANGUAGES.glob("*.flac"))


@lru_cache(maxsize=None)
def load(name: str) -> RealRecording:
    """One English recording by name (a file stem in tests/fixtures/real/)."""
    path = REAL / f"{name}.flac"
    if not path.is_file():
        raise FileNotFoundError(f"no recording {path}; choose from {', '.join(recording_names())}")
    return _read(path, "en")


@lru_cache(maxsize=None)
def load_language(name: str) -> RealRecording:
    """One recording in another language by name (a file stem in tests/fixtures/real/languages/)."""
    path = LANGUAGES / f"{name}.flac"
    if not path.is_file():
        raise FileNotFoundError(f"no recording {path}; choose from {', '.join(language_recording_names())}")
    return _read(path, name.split("_")[0])


def _read(path: Path, language: str) -> RealRecording:
    import soundfile

    audio, rate = soundfile.read(path, dtype="float32")
    if rate != SAMPLE_RATE or audio.ndim != 1:
        raise ValueError(f"{path} must be {SAMPLE_RATE} Hz mono, is {rate} Hz with shape {audio.shape}")
    transcript = " ".join(path.with_suffix(".txt").read_text().split())
    return RealRecording(path.stem, audio, transcript, language)


def pink_noise(samples: int, seed: int) -> np.ndarray:
    """Unit-RMS pink (1/f power) noise: white noise shaped in the frequency domain."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.fft.rfftfreq(samples)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n=samples)
    return pink / np.sqrt(np.mean(pink ** 2))


def with_noise(audio: np.ndarray, snr_db: float = NOISE_SNR_DB, seed: int = 11) -> np.ndarray:
    """`audio` plus pink noise at `snr_db` below the speech's RMS (measured where it is voiced)."""
    voiced = audio[np.abs(audio) > 0.02]
    speech_rms = float(np.sqrt(np.mean((voiced if voiced.size else audio) ** 2)))
    noise = pink_noise(len(audio), seed) * speech_rms / (10 ** (snr_db / 20))
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


def room_impulse_response(rt60: float = REVERB_RT60, seed: int = 5) -> np.ndarray:
    """A synthetic RIR: a unit direct path, then noise decaying by 60 dB over `rt60` seconds."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60) * 0.3
    tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # first reflections arrive a few ms after the direct sound
    tail[0] = 1.0
    return tail


def with_reverb(audio: np.ndarray, rt60: float = REVERB_RT60, seed: int = 5) -> np.ndarray:
    """`audio` heard in a room with reverberation time `rt60`, at the clean file's peak level."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(audio, room_impulse_response(rt60, seed))[: len(audio)]
    peak = float(np.max(np.abs(wet))) or 1.0
    return (wet * float(np.max(np.abs(audio))) / peak).astype(np.float32)


TELEPHONE_RATE = 8000


def over_the_telephone(audio: np.ndarray) -> np.ndarray:
    """`audio` as a telephone line carries it: 8 kHz G.711 μ-law (FFmpeg's pcm_mulaw, through
    PyAV, both ways: independent of the core's tables), brought back to 16 kHz with soxr."""
    import av
    import soxr

    narrow = (np.clip(soxr.resample(audio, SAMPLE_RATE, TELEPHONE_RATE), -1.0, 1.0) * 32767.0).astype(np.int16)
    encoder = av.CodecContext.create("pcm_mulaw", "w")
    encoder.sample_rate, encoder.layout, encoder.format = TELEPHONE_RATE, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(narrow[None, :], format="s16", layout="mono")
    frame.sample_rate = TELEPHONE_RATE
    decoder = av.CodecContext.create("pcm_mulaw", "r")
    decoder.sample_rate, decoder.layout = TELEPHONE_RATE, "mono"
    decoded = [f.to_ndarray().reshape(-1) for packet in [*encoder.encode(frame), *encoder.encode(None)]
               for f in decoder.decode(packet)]
    line = np.concatenate(decoded).astype(np.float32) / 32768.0
    return soxr.resample(line, TELEPHONE_RATE, SAMPLE_RATE).astype(np.float32)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda audio: audio,
    "noise": with_noise,
    "reverb": with_reverb,
    "telephone": over_the_telephone,
}


def variant(recording: RealRecording, name: str) -> np.ndarray:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    return VARIANTS[name](recording.audio)


_SPOKEN = {"mr": "mister", "mrs": "missus", "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
           "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def spoken_form(text: str) -> str:
    """Lower case, no punctuation, and the few written forms Whisper uses here spelled out
    (Mr. → mister, 10 → ten), so a WER counts words heard, not how they are written."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return " ".join(_SPOKEN.get(w, w) for w in words)


def real_wer(reference: str, hypothesis: str) -> float:
    return wer(spoken_form(reference), spoken_form(hypothesis))


CHARACTER_LANGUAGES = ("ja", "zh")  # written without spaces: scored by character error rate


def folded_words(text: str) -> list[str]:
    """Words of any language, lower-cased, accents folded (the packages' transcripts are not
    consistent about them: "numero" beside "número"), punctuation stripped."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+(?:'[^\W_]+)*", plain)


def language_error_rate(recording: RealRecording, hypothesis: str) -> float:
    """WER on folded words, or for Japanese and Chinese the character error rate."""
    import jiwer

    if recording.language in CHARACTER_LANGUAGES:
        return jiwer.cer("".join(folded_words(recording.transcript)), "".join(folded_words(hypothesis)))
    return jiwer.wer(" ".join(folded_words(recording.transcript)), " ".join(folded_words(hypothesis)) or "<empty>")


def reference_words(reference: str) -> int:
    """How many words `real_wer` counts in `reference` (WER x this = errors)."""
    return len(normalized_words(spoken_form(reference)).split())


@lru_cache(maxsize=2)
def _offline_model(model: str):
    from faster_whisper import WhisperModel

    from core_service import models

    path = models.tiny_en_path() if model == "tiny.en" else models.base_path()
    return WhisperModel(str(path), device="cpu", compute_type="int8")


def offline_transcript(audio: np.ndarray, model: str = "tiny.en") -> str:
    """faster-whisper on the whole file with its default `transcribe()` settings."""
    if model not in ("tiny.en", "base"):
        raise ValueError(f"offline reference has tiny.en and base, not {model!r}")
    segments, _ = _offline_model(model).transcribe(audio)
    return " ".join(s.text.strip() for s in segments)


CHUNK_SAMPLES = 1600  # 100 ms per audio message, as a microphone client sends


async def streamed_transcript(address: str, audio: np.ndarray, model: str = "", realtime: bool = True,
                              timeout: float = 300.0, segmentation: int = 0) -> str:
    """The finals' text of `audio` streamed to the core at `address` in 100 ms messages, at
    real-time pace (each message sent when its audio would have been spoken) or as fast as
    possible; `model` empty is the core's default, language is left to the core (detect);
    `segmentation` is a StreamingConfig.segmentation value (0 = the core's)."""
    import asyncio
    import time

    import grpc
    from asr.v1 import asr_pb2, asr_pb2_grpc

    from tests.audio_fixtures import to_pcm16

    pcm = to_pcm16(audio)
    step = CHUNK_SAMPLES * 2

    async def requests():
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(model=model, interim_results=True,
                                                                      segmentation=segmentation))
        t0 = time.monotonic()
        for i in range(0, len(pcm), step):
            if realtime:
                await asyncio.sleep(max(0.0, t0 + i / 2 / SAMPLE_RATE - time.monotonic()))
            yield asr_pb2.RecognizeRequest(audio=pcm[i:i + step])

    finals = []
    async with grpc.aio.insecure_channel(address) as channel:
        async for response in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests(), timeout=timeout):
            if response.WhichOneof("response") == "result" and response.result.is_final:
                finals.append(response.result.text.strip())
    return " ".join(t for t in finals if t)
