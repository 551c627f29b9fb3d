"""Wyoming's events as the `wyoming` package (pinned in pyproject.toml) writes and reads them.

An event on the wire is a header line `{"type", "data", "version", "data_length",
"payload_length"}` (the framer, bridges/transports/framing.py `HeaderPayloadFramer`, reads and
writes the data block and the payload); here an event is the header as a dict. This module
builds the server's events (`info`, `transcript-*`, `error`, `pong`), reads the client's
(`transcribe`, `audio-start`, `audio-chunk`) and turns PCM of any width into what the core takes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asr.v1 import asr_pb2
from asr_common.contract import MAX_AUDIO_CHANNELS, MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ
from bridges.fields import FieldError, check_language, get_int, get_str, parse_json_object
from bridges.transport import SendJson
from bridges.engine_catalog import ServedModel

VERSION = "1.10.2"  # the `wyoming` package whose events this bridge speaks (the header's "version")
PROGRAM = "asr-gateway"
ATTRIBUTION = {"name": "asr-gateway", "url": ""}  # required by the package; this project publishes no URL



def event(kind: str, data: dict[str, Any] | None = None) -> SendJson:
    """One server event; its data goes out as the data block, as the package writes it."""
    header: dict[str, Any] = {"type": kind, "version": VERSION}
    if data:
        header["data"] = data
    return SendJson(header)


def error(text: str, code: str) -> SendJson:
    return event("error", {"text": text, "code": code})


def read_header(text: str) -> tuple[str, dict[str, Any]]:
    """(type, data) of a client header line; FieldError for one the package could not have written."""
    header = parse_json_object(text, "event header")
    kind, data = header.get("type"), header.get("data", {})
    if not isinstance(kind, str) or not kind:
        raise FieldError('an event header needs a "type" (e.g. {"type": "describe"})')
    if not isinstance(data, dict):
        raise FieldError(f'the "data" of a {kind} event must be a JSON object')
    return kind, data


@dataclass(frozen=True)
class Transcribe:
    """`transcribe`: which model and language the next audio is in; names and terms to favour."""

    engine: str = ""
    model: str = ""
    language: str = ""
    hotwords: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: dict[str, Any]) -> "Transcribe":
        name = get_str(data, "name", "")
        language = get_str(data, "language", "")
        engine, _, model = name.rpartition("/")  # info lists models as "engine/model"; a bare name is a model
        words = [*_strings(data, "transcript_names"), *_strings(data, "transcript_terms")]
        return cls(engine, model, check_language(language, "language") if language else "", tuple(words))


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(f"{key} must be a list of strings")
    return value


@dataclass(frozen=True)
class AudioFormat:
    """`audio-start`/`audio-chunk`: rate (Hz), width (bytes per sample), channels."""

    rate: int
    width: int
    channels: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> "AudioFormat":
        for key in ("rate", "width", "channels"):
            if key not in data:
                raise FieldError(f"{key} is required (the package's AudioStart/AudioChunk always send it)")
        width = get_int(data, "width", 2, 1, 4)
        return cls(get_int(data, "rate", 16000, MIN_SAMPLE_RATE_HERTZ, MAX_SAMPLE_RATE_HERTZ), width,
                   get_int(data, "channels", 1, 1, MAX_AUDIO_CHANNELS))

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels

    def encoding(self) -> int:
        """32-bit audio goes to the core as is; 8/16/24-bit as 16-bit (`to_core`)."""
        return asr_pb2.AUDIO_ENCODING_INT32 if self.width == 4 else asr_pb2.AUDIO_ENCODING_LINEAR16

    def to_core(self, pcm: bytes) -> bytes:
        """PCM of this width as the core takes it: 8-bit (unsigned, offset 128, as WAV files and
        the package's AudioChunkConverter write it) and 24-bit little-endian become 16-bit; 16-
        and 32-bit pass unchanged."""
        if self.width == 1:
            return ((np.frombuffer(pcm, dtype=np.uint8).astype("<i2") - 128) << 8).tobytes()
        if self.width == 3:
            return np.frombuffer(pcm, dtype=np.uint8).reshape(-1, 3)[:, 1:].tobytes()  # the top two bytes
        return pcm


def info(models: list[ServedModel]) -> SendJson:
    """`info` with one `asr` program listing the core's models (`describe`)."""
    listed = [{"name": m.name, "languages": m.spoken(), "attribution": ATTRIBUTION, "installed": True,
               "description": f"{m.model} on the {m.engine} engine", "version": None} for m in models]
    program = {"name": PROGRAM, "attribution": ATTRIBUTION, "installed": True,
               "description": "Streaming speech recognition (asr-gateway core)", "version": VERSION,
               "models": listed, "supports_transcript_streaming": True, "requires_external_vad": True,
               "prefers_auto_gain_enabled": True, "prefers_noise_reduction_enabled": True}
    return event("info", {"asr": [program], "tts": [], "handle": [], "intent": [], "wake": [], "mic": [],
                          "snd": []})
