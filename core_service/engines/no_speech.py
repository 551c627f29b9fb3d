"""When a Whisper decode is not speech: offline Whisper's own checks, and an energy gate.

Whisper writes text on silence ("you", "Thank you.", "."): offline, faster-whisper's
`transcribe()` drops a window whose no-speech probability is over 0.6 unless its average
log-probability is over -1.0 (`no_speech_threshold`, `log_prob_threshold`), and retries a
decode whose text compresses too well (`compression_ratio_threshold` 2.4, a repetition) at a
higher temperature, where on silence it then falls under the log-probability bar. The core
does not retry (a final would cost up to six decodes), so a repetitive decode that Whisper
thinks is silence counts as silence at once.

Those checks alone still let Whisper's favourite silence word through: on 8 s of digital
zeros tiny.en writes "you" with no-speech probability 0.95 and an average log-probability of
-0.67. So audio whose loudest 30 ms is below `SILENCE_DBFS` is never decoded at all (there is
nothing to hear: speech Whisper can transcribe peaks 20 dB above that even when recorded very
quietly), and the segmenter keeps the text of an utterance the VAD did not vouch for (a VAD
that heard little speech, or VAD turned off by the client) only when Whisper's no-speech
probability is below `PolicyOptions.weak_max_no_speech` (segmenter/finals.py).
"""
from __future__ import annotations

import zlib

import numpy as np

# faster-whisper's transcribe() defaults
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4

SILENCE_DBFS = -60.0  # loudest 30 ms frame (RMS) below this: silence, never decoded
_FRAME = 480  # 30 ms at 16 kHz
_SILENCE_RMS = 10 ** (SILENCE_DBFS / 20)


def average_logprob(score: float, tokens: int, length_penalty: float = 1.0) -> float:
    """The average log-probability per token of a decode, as faster-whisper recovers it from
    CTranslate2's score (the sum divided by length ** length_penalty), counting the end token."""
    return score * tokens ** length_penalty / (tokens + 1)


def compression_ratio(text: str) -> float:
    """How well `text` compresses (faster-whisper's `get_compression_ratio`): over 2.4 it repeats itself."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def whisper_says_no_speech(no_speech_prob: float, avg_logprob: float, ratio: float) -> bool:
    """Offline Whisper's verdict: likely no speech, and a text it is not sure of (or one that
    would have been decoded again for repeating itself)."""
    return no_speech_prob > NO_SPEECH_THRESHOLD and (avg_logprob < LOG_PROB_THRESHOLD
                                                      or ratio > COMPRESSION_RATIO_THRESHOLD)


def silent(audio: np.ndarray) -> bool:
    """True when no 30 ms frame of `audio` (16 kHz float32) reaches `SILENCE_DBFS`."""
    if audio.size == 0:
        return True
    if float(np.max(np.abs(audio))) < _SILENCE_RMS:
        return True  # cheap: no sample reaches the level, so no frame's RMS can
    usable = audio[:len(audio) - len(audio) % _FRAME] if len(audio) >= _FRAME else audio
    frames = usable.reshape(-1, min(_FRAME, len(usable))).astype(np.float64)
    return float(np.sqrt(np.mean(frames ** 2, axis=1)).max()) < _SILENCE_RMS
