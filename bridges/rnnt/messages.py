"""RNN-T dialect vocabulary: the start_recording config, the VAD threshold mapping and JSON builders.

Pure functions and dataclasses; the state machine lives in bridges/rnnt/codec.py.
"""
from __future__ import annotations

import math
import random
import string
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import grpc

from asr.v1 import asr_pb2
from asr_common.contract import MIN_SILENCE_SECONDS
from asr_common.durations import duration, seconds
from bridges.endings import EndKind
from bridges.faults import CoreError, classify


PROTOCOL_VERSION = "1.0"
SUPPORTED_SAMPLE_RATES = (16000, 44100, 48000)
SUPPORTED_ENCODINGS = ("pcm16", "float32")
SUPPORTED_CHANNELS = (1, 2)
# The core accepts any rate in this range (it resamples with soxr); the list above is what we advertise.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000

_ENCODINGS = {
    "pcm16": (asr_pb2.AUDIO_ENCODING_LINEAR16, 2),
    "float32": (asr_pb2.AUDIO_ENCODING_FLOAT32, 4),
}

# Energy-style thresholds (the protocol document's example is 0.01, an RMS amplitude) are below
# this; values from here up to 1 are Silero speech probabilities.
ENERGY_THRESHOLD_LIMIT = 0.1
_ENERGY_REFERENCE = 0.01  # RMS of ~-40 dBFS: treated as Silero's default 0.5


class ConfigError(ValueError):
    """A client value the dialect cannot use; the message tells the client what to send."""


def iso_timestamp(epoch_seconds: float) -> str:
    """`2024-01-15T10:30:00.000Z` (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_client_id(epoch_seconds: float | None = None, rng: random.Random | None = None) -> str:
    """`client_<unix seconds>_<6 lowercase letters/digits>`, the document's format."""
    rng = rng or random.SystemRandom()
    suffix = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    return f"client_{int(epoch_seconds if epoch_seconds is not None else time.time())}_{suffix}"


def vad_probability(vad_threshold: float) -> float:
    """Map the dialect's `vad_threshold` to a Silero speech-probability threshold.

    Values in [0.1, 1) are already probabilities. Smaller values are energy thresholds (RMS
    amplitude, like the document's 0.01): 0.01 maps to Silero's default 0.5 and every doubling
    of the amplitude adds 0.1 (halving subtracts 0.1), clipped to [0.1, 0.9].
    """
    if vad_threshold >= ENERGY_THRESHOLD_LIMIT:
        return vad_threshold
    p = 0.5 + 0.1 * math.log2(vad_threshold / _ENERGY_REFERENCE)
    return round(min(0.9, max(0.1, p)), 3)


def _number(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}{key} must be a number, got {value!r}")
    return float(value)


def parse_vad_threshold(obj: dict[str, Any], where: str = "") -> float | None:
    value = _number(obj, "vad_threshold", where)
    if value is not None and not 0 < value < 1:
        raise ConfigError(
            f"{where}vad_threshold must be in (0, 1): a speech probability (0.1-0.99) "
            f"or an energy level below 0.1 such as 0.01; got {value}"
        )
    return value


def parse_silence_duration(obj: dict[str, Any], where: str = "") -> float | None:
    value = _number(obj, "silence_duration", where)
    low, high = MIN_SILENCE_SECONDS
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{where}silence_duration must be between {low:g} and {high:g} seconds, got {value}")
    return value


@dataclass(frozen=True)
class RecordingConfig:
    """The start_recording config, validated."""

    sample_rate: int = 16000
    encoding: str = "pcm16"
    channels: int = 1
    language: str = "en"
    model: str = ""
    vad_threshold: float | None = None
    silence_duration: float | None = None

    @property
    def frame_bytes(self) -> int:
        return _ENCODINGS[self.encoding][1] * self.channels

    def with_vad(self, vad_threshold: float | None, silence_duration: float | None) -> "RecordingConfig":
        return replace(
            self,
            vad_threshold=self.vad_threshold if vad_threshold is None else vad_threshold,
            silence_duration=self.silence_duration if silence_duration is None else silence_duration,
        )

    def vad_config(self) -> asr_pb2.VadConfig | None:
        if self.vad_threshold is None and self.silence_duration is None:
            return None
        vad = asr_pb2.VadConfig()
        if self.vad_threshold is not None:
            vad.threshold = vad_probability(self.vad_threshold)
        if self.silence_duration is not None:
            vad.min_silence_duration.CopyFrom(duration(self.silence_duration))
        return vad

    def streaming_config(self, engine: str, session_id: str) -> asr_pb2.StreamingConfig:
        language = "" if self.language.lower() in ("", "auto") else self.language
        config = asr_pb2.StreamingConfig(
            engine=engine,
            model=self.model,
            language=language,
            task=asr_pb2.TASK_TRANSCRIBE,
            encoding=_ENCODINGS[self.encoding][0],
            sample_rate_hertz=self.sample_rate,
            audio_channel_count=self.channels,
            interim_results=True,
            enable_word_time_offsets=True,  # the dialect always carries word times
            enable_automatic_punctuation=True,
            session_id=session_id,
        )
        vad = self.vad_config()
        if vad is not None:
            config.vad.CopyFrom(vad)
        return config


def parse_recording_config(raw: Any, previous: RecordingConfig) -> RecordingConfig:
    """Validate start_recording's optional `config`; values not given keep `previous`."""
    if raw is None:
        return previous
    if not isinstance(raw, dict):
        raise ConfigError(f"start_recording config must be an object, got {type(raw).__name__}")
    where = "config."
    rate = raw.get("sample_rate", previous.sample_rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ConfigError(
            f"config.sample_rate must be an integer from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} "
            f"(advertised: {list(SUPPORTED_SAMPLE_RATES)}), got {rate!r}"
        )
    encoding = raw.get("encoding", previous.encoding)
    if not isinstance(encoding, str) or encoding.lower() not in _ENCODINGS:
        raise ConfigError(f"config.encoding must be one of {list(SUPPORTED_ENCODINGS)}, got {encoding!r}")
    channels = raw.get("channels", previous.channels)
    if isinstance(channels, bool) or channels not in SUPPORTED_CHANNELS:
        raise ConfigError(f"config.channels must be one of {list(SUPPORTED_CHANNELS)}, got {channels!r}")
    language = raw.get("language", previous.language)
    if language is None:
        language = ""
    if not isinstance(language, str):
        raise ConfigError(f"config.language must be a language code such as 'en' or 'auto', got {language!r}")
    model = raw.get("model", previous.model)
    if not isinstance(model, str):
        raise ConfigError(f"config.model must be a string, got {model!r}")
    base = RecordingConfig(rate, encoding.lower(), channels, language, model,
                           previous.vad_threshold, previous.silence_duration)
    return base.with_vad(parse_vad_threshold(raw, where), parse_silence_duration(raw, where))


# ---- server -> client messages ---------------------------------------------------------------
def connection_message(client_id: str) -> dict[str, Any]:
    return {
        "type": "connection",
        "status": "connected",
        "client_id": client_id,
        "protocol_version": PROTOCOL_VERSION,
        "supported_audio_formats": {
            "sample_rates": list(SUPPORTED_SAMPLE_RATES),
            "encodings": list(SUPPORTED_ENCODINGS),
            "channels": list(SUPPORTED_CHANNELS),
        },
    }


def error_message(error: str, now: float) -> dict[str, Any]:
    return {"type": "error", "error": error, "timestamp": iso_timestamp(now)}


def config_echo(config: RecordingConfig, started: asr_pb2.SessionStarted | None) -> dict[str, Any]:
    """The config in force: the client's values plus what the core resolved."""
    echo: dict[str, Any] = {
        "sample_rate": config.sample_rate,
        "encoding": config.encoding,
        "channels": config.channels,
        "language": config.language,
    }
    if started is not None:
        echo["engine"] = started.engine
        echo["model"] = started.model
        echo.update(vad_echo(config, started.resolved_config.vad))
    else:
        echo.update(vad_echo(config, None))
    return echo


def vad_echo(config: RecordingConfig, vad: asr_pb2.VadConfig | None) -> dict[str, Any]:
    """vad_threshold as the client set it, the Silero probability and silence actually in force."""
    probability = vad.threshold if vad is not None and vad.threshold > 0 else None
    if probability is None and config.vad_threshold is not None:
        probability = vad_probability(config.vad_threshold)
    silence = None
    if vad is not None and vad.HasField("min_silence_duration"):
        silence = seconds(vad.min_silence_duration)
    if not silence:
        silence = config.silence_duration
    return {
        "vad_threshold": config.vad_threshold if config.vad_threshold is not None else probability,
        "vad_probability_threshold": round(probability, 3) if probability is not None else None,
        "silence_duration": round(silence, 3) if silence is not None else None,
    }


def result_message(result: asr_pb2.RecognitionResult, now: float) -> dict[str, Any]:
    start, end = seconds(result.start_offset), seconds(result.end_offset)
    message: dict[str, Any] = {
        "type": "transcription" if result.is_final else "partial",
        "segment_id": int(result.segment_id),
        "text": result.text.strip(),
        "is_final": bool(result.is_final),
    }
    if result.is_final:
        message["words"] = [
            {
                "word": w.word.strip(),
                "start": round(seconds(w.start_offset), 3),
                "end": round(seconds(w.end_offset), 3),
                "confidence": round(w.confidence, 3),
            }
            for w in result.words
        ]
        message["duration"] = round(max(0.0, end - start), 3)
        message["start"] = round(start, 3)
        message["end"] = round(end, 3)
        if result.confidence:
            message["confidence"] = round(result.confidence, 3)
    if result.language:
        message["language"] = result.language
    message["processing_time_ms"] = int(round(seconds(result.processing_time) * 1000))
    message["timestamp"] = iso_timestamp(now)
    return message


def stopped_message(summary: asr_pb2.SessionSummary, now: float) -> dict[str, Any]:
    return {
        "type": "recording_stopped",
        "final_transcript": summary.transcript,
        "total_duration": round(seconds(summary.audio_processed), 3),
        "total_segments": int(summary.segment_count),
        "timestamp": iso_timestamp(now),
    }


def core_error_text(error: CoreError) -> str:
    """A core failure in words that say what to do next (its kind: bridges/faults.py)."""
    kind, message = classify(error), error.message
    if kind is EndKind.BUSY:
        wait = f" in {error.retry_after:.0f} s" if error.retry_after else " later"
        return f"Server busy: {message}. Retry start_recording{wait}"
    if kind in (EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN):  # "the recognition service is unavailable; retry in N s"
        return message[:1].upper() + message[1:]
    if error.code == grpc.StatusCode.INVALID_ARGUMENT:  # the core's message is its field violation's description
        violations = error.field_violations
        fields = [f for f, d in violations if d in message]
        others = "; ".join(f"{f}: {d}" for f, d in violations if d not in message)
        where = f" ({', '.join(fields)})" if fields else ""
        return f"Invalid recording config{where}: {message}" + (f"; {others}" if others else "")
    if kind is EndKind.CLIENT_FAULT:  # a limit or a deadline the recording broke: the core says which
        return f"Recording ended: {message}"
    return f"Transcription failed ({error.code.name}): {message}"
