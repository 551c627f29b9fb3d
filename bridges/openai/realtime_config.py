"""The Realtime transcription session's settings, in the two shapes clients send, and the core
config they make.

- GA: `session.update` {`session`: {`type`: "transcription", `audio`: {`input`: {`format`
  {`type`: "audio/pcm" (rate 24000) | "audio/pcmu" | "audio/pcma"}, `transcription` {`model`,
  `language`, `prompt`}, `turn_detection` (server_vad {threshold, prefix_padding_ms,
  silence_duration_ms}, semantic_vad, or null), `noise_reduction`}}, `include`}}.
- beta (`OpenAI-Beta: realtime=v1`): `transcription_session.update` {`session`:
  {`input_audio_format` "pcm16" | "g711_ulaw" | "g711_alaw", `input_audio_transcription`,
  `turn_detection`, `input_audio_noise_reduction`, `include`}}.
- the query string of the connection: `model`, `language`, `turn_detection=none`,
  `input_audio_format`.

`noise_reduction` is accepted and echoed, not applied (the core's VAD and Whisper take noisy
speech as it is); `semantic_vad` is served by the core's VAD like `server_vad`;
`prefix_padding_ms` is accepted and echoed (the core's utterances start at the speech's onset).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from google.protobuf.duration_pb2 import Duration

from asr.v1 import asr_pb2
from asr_common.language_tags import is_language_tag
from bridges.openai.models import core_model, diarizes

# format name (GA type / beta name) -> (encoding, sample rate)
GA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
FORMATS = {"pcm16": (asr_pb2.AUDIO_ENCODING_LINEAR16, 24000), "g711_ulaw": (asr_pb2.AUDIO_ENCODING_MULAW, 8000),
           "g711_alaw": (asr_pb2.AUDIO_ENCODING_ALAW, 8000)}
DEFAULT_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
DEFAULT_MODEL = "gpt-4o-transcribe"


class SettingsError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class RealtimeSettings:
    audio_format: str = "pcm16"  # a key of FORMATS
    model: str = DEFAULT_MODEL
    language: str = ""
    prompt: str = ""
    turn_detection: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_VAD))
    noise_reduction: dict[str, Any] | None = None
    include: tuple[str, ...] = ()

    @property
    def bytes_per_second(self) -> int:
        _, rate = FORMATS[self.audio_format]
        return rate * (2 if self.audio_format == "pcm16" else 1)

    @property
    def diarize(self) -> bool:
        """`gpt-4o-transcribe-diarize`: the core labels speakers, each final's runs become segment events."""
        return diarizes(self.model)

    def core_key(self) -> tuple:
        """What the core stream is opened with; a change means a new stream."""
        return self.audio_format, self.model, self.language, self.prompt

    def core_config(self, engine: str) -> asr_pb2.StreamingConfig:
        encoding, rate = FORMATS[self.audio_format]
        model = core_model(self.model)
        return asr_pb2.StreamingConfig(
            engine=model.engine or engine, model=model.model, language=self.language, prompt=self.prompt,
            encoding=encoding, sample_rate_hertz=rate, audio_channel_count=1, interim_results=True,
            enable_automatic_punctuation=True, vad=self.vad(), enable_word_time_offsets=self.diarize,
            diarization=asr_pb2.DiarizationConfig(enable=True) if self.diarize else None)

    def vad(self) -> asr_pb2.VadConfig:
        if self.turn_detection is None:
            return asr_pb2.VadConfig(enabled=False)
        vad = asr_pb2.VadConfig(enabled=True, threshold=float(self.turn_detection.get("threshold") or 0.0))
        silence = self.turn_detection.get("silence_duration_ms")
        if silence:
            vad.min_silence_duration.CopyFrom(Duration(nanos=int(silence) % 1000 * 1_000_000,
                                                       seconds=int(silence) // 1000))
        return vad

    # ---- what the client is told ------------------------------------------------------------
    def transcription(self) -> dict[str, Any]:
        return {"model": self.model, "language": self.language or None, "prompt": self.prompt}

    def ga(self, session_id: str) -> dict[str, Any]:
        format_type = next(k for k, v in GA_FORMATS.items() if v == self.audio_format)
        audio_format = {"type": format_type, **({"rate": 24000} if format_type == "audio/pcm" else {})}
        return {"type": "transcription", "object": "realtime.transcription_session", "id": session_id,
                "audio": {"input": {"format": audio_format, "transcription": self.transcription(),
                                    "turn_detection": self.turn_detection, "noise_reduction": self.noise_reduction}},
                "include": list(self.include)}

    def beta(self, session_id: str) -> dict[str, Any]:
        return {"id": session_id, "object": "realtime.transcription_session", "input_audio_format": self.audio_format,
                "input_audio_transcription": self.transcription(), "turn_detection": self.turn_detection,
                "input_audio_noise_reduction": self.noise_reduction, "include": list(self.include)}


def _object(value: Any, param: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsError(f"'{param}' must be an object", param)
    return value


def _turn_detection(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = _object(value, param).get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        raise SettingsError(f"'{param}.type' must be server_vad or semantic_vad (or the whole field null), "
                            f"not {kind!r}", f"{param}.type")
    threshold = value.get("threshold")
    if threshold is not None and (not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0):
        raise SettingsError(f"'{param}.threshold' must be a number between 0 and 1", f"{param}.threshold")
    for key in ("prefix_padding_ms", "silence_duration_ms"):
        ms = value.get(key)
        if ms is not None and (not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= 10_000):
            raise SettingsError(f"'{param}.{key}' must be an integer from 0 to 10000", f"{param}.{key}")
    if kind == "semantic_vad":
        return {**value, "type": kind}
    return {**DEFAULT_VAD, **value, "type": kind}


def _transcription(settings: RealtimeSettings, value: Any, param: str) -> RealtimeSettings:
    transcription = _object(value, param)
    language = transcription.get("language") or ""
    if language and (not isinstance(language, str) or not is_language_tag(language)):
        raise SettingsError(f"'{param}.language' must be an ISO-639-1 or BCP-47 tag such as 'en'",
                            f"{param}.language")
    prompt = transcription.get("prompt") or ""
    if not isinstance(prompt, str) or len(prompt) > 1000:
        raise SettingsError(f"'{param}.prompt' must be a string of at most 1000 characters", f"{param}.prompt")
    model = transcription.get("model") or settings.model
    if not isinstance(model, str):
        raise SettingsError(f"'{param}.model' must be a string", f"{param}.model")
    return replace(settings, model=model, language=language, prompt=prompt)


def _format(name: Any, param: str) -> str:
    if name not in FORMATS:
        raise SettingsError(f"'{param}' must be one of {', '.join(FORMATS)}, not {name!r}", param)
    return name


def apply_ga(settings: RealtimeSettings, session: dict[str, Any]) -> RealtimeSettings:
    if session.get("type", "transcription") != "transcription":
        raise SettingsError("this endpoint serves transcription sessions: send session.type \"transcription\"",
                            "session.type")
    audio_input = _object(_object(session.get("audio"), "session.audio").get("input"), "session.audio.input")
    if "format" in audio_input:
        audio_format = _object(audio_input["format"], "session.audio.input.format")
        kind = audio_format.get("type")
        if kind not in GA_FORMATS:
            raise SettingsError(f"'session.audio.input.format.type' must be one of {', '.join(GA_FORMATS)}, "
                                f"not {kind!r}", "session.audio.input.format.type")
        if kind == "audio/pcm" and audio_format.get("rate", 24000) != 24000:
            raise SettingsError("audio/pcm is 24000 Hz", "session.audio.input.format.rate")
        settings = replace(settings, audio_format=GA_FORMATS[kind])
    if "transcription" in audio_input:
        settings = _transcription(settings, audio_input["transcription"], "session.audio.input.transcription")
    if "turn_detection" in audio_input:
        settings = replace(settings, turn_detection=_turn_detection(audio_input["turn_detection"],
                                                                    "session.audio.input.turn_detection"))
    if "noise_reduction" in audio_input:
        settings = replace(settings, noise_reduction=audio_input["noise_reduction"])
    return settings


def apply_beta(settings: RealtimeSettings, session: dict[str, Any]) -> RealtimeSettings:
    if "input_audio_format" in session:
        settings = replace(settings, audio_format=_format(session["input_audio_format"], "session.input_audio_format"))
    if "input_audio_transcription" in session:
        settings = _transcription(settings, session["input_audio_transcription"], "session.input_audio_transcription")
    if "turn_detection" in session:
        settings = replace(settings, turn_detection=_turn_detection(session["turn_detection"], "session.turn_detection"))
    if "input_audio_noise_reduction" in session:
        settings = replace(settings, noise_reduction=session["input_audio_noise_reduction"])
    return settings


def from_query(query: dict[str, str]) -> RealtimeSettings:
    """The settings a connection's URL asks for (LiveKit adds `model`; others `language`,
    `turn_detection=none`, `input_audio_format`)."""
    settings = RealtimeSettings()
    if query.get("model"):
        settings = replace(settings, model=query["model"])
    if query.get("language"):
        settings = _transcription(settings, {"model": settings.model, "language": query["language"]}, "language")
    if query.get("turn_detection", "").lower() in ("none", "null"):
        settings = replace(settings, turn_detection=None)
    if query.get("input_audio_format"):
        settings = replace(settings, audio_format=_format(query["input_audio_format"], "input_audio_format"))
    return settings
