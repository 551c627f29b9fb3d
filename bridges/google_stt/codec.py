"""google-stt dialect (../shared/protocols/google-stt.md) as a sans-I/O state machine.

Client: one JSON config, then binary LINEAR16 frames; the end of audio is either
`{"type": "end"}` (alias `{"action": "stop"}`), or simply no audio for `end_after_silence`
seconds (the document's own client just stops sending and waits for `complete`).
Server: `metadata` (status ready, echoed config) once the core accepted the session,
`transcript` per non-empty partial/final, `error` with `detail`, `complete` at the end: also
after an error that ends the session, because the document's client waits for `complete`.
With ENABLE_AUTOMATIC_PUNCTUATION=false (`--no-automatic-punctuation`) the transcripts carry no
punctuation: Whisper always punctuates, so the bridge strips it.
"""
from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from asr.v1 import asr_pb2
from bridges.codec import (Action, Close, Codec, CoreError, EndAudio, SendAudio, SendJson,
                           StartStream)
from bridges.fields import (FieldError, check_language, describe_core_error, get_int, get_str,
                            parse_json_object, whisper_model_for)

SUPPORTED_ENCODINGS = ("LINEAR16",)
END_MESSAGES = ({"type": "end"}, {"action": "stop"})
COMPLETE = {"type": "complete"}
_INNER_MARK = re.compile(r"(?<=\w)['’\-](?=\w)")  # don't, e-mail: kept


def strip_punctuation(text: str) -> str:
    """Text without punctuation marks (any script), keeping apostrophes and hyphens inside words."""
    kept = {m.start() for m in _INNER_MARK.finditer(text)}
    out = "".join(" " if unicodedata.category(c).startswith("P") and i not in kept else c
                  for i, c in enumerate(text))
    return " ".join(out.split())


@dataclass(frozen=True)
class GoogleSttOptions:
    default_language: str = "ar-EG"
    default_sample_rate: int = 16000
    interim_results: bool = True
    automatic_punctuation: bool = True
    end_after_silence: float = 2.0
    engine: str = ""  # "" = the core's default


def choose_engine(options: GoogleSttOptions, language: str) -> tuple[str, str]:
    """(engine, model) for a session: `--engine` when given; otherwise Google when the core
    reports it available (credentials configured), else Whisper (the core picks the
    multilingual "base" model for languages other than English)."""
    if options.engine:
        return options.engine, whisper_model_for(language, options.engine)
    return "google,whisper", ""


class State(enum.Enum):
    AWAIT_CONFIG = "await_config"
    STARTING = "starting"  # config sent to the core, waiting for SessionStarted
    STREAMING = "streaming"
    ENDING = "ending"  # end of audio sent, waiting for the last finals
    DONE = "done"


class GoogleSttCodec(Codec):
    def __init__(self, options: GoogleSttOptions | None = None) -> None:
        self.options = options or GoogleSttOptions()
        self.state = State.AWAIT_CONFIG
        self.echo: dict[str, Any] = {}
        self.seen_audio = False

    # ---- client frames --------------------------------------------------------------------
    def text_frame(self, text: str) -> list[Action]:
        if self.state is State.AWAIT_CONFIG:
            return self._config(text)
        try:
            message = parse_json_object(text, "message")
        except FieldError as exc:
            return [self._error(f"{exc}; after the config send binary LINEAR16 audio or {{\"type\": \"end\"}}")]
        if message in END_MESSAGES:
            if self.state in (State.STARTING, State.STREAMING):
                self.state = State.ENDING
                return [EndAudio()]
            return [self._error("end of audio already received; the last transcripts are on their way")]
        return [self._error(f"unknown message {text[:80]!r}; after the config send binary LINEAR16 audio, "
                            "and {\"type\": \"end\"} when done")]

    def binary_frame(self, data: bytes) -> list[Action]:
        if self.state is State.AWAIT_CONFIG:
            return self._fatal("audio received before the config; send the JSON config ({\"language_code\": ..., "
                               "\"sample_rate_hertz\": ..., \"encoding\": \"LINEAR16\"}) first", 1008,
                               "config required first")
        if self.state is State.ENDING:
            return [self._error("audio after the end of audio was dropped; connect again for a new stream")]
        if self.state not in (State.STARTING, State.STREAMING):
            return []
        if len(data) % 2:
            return [self._error(f"audio frame of {len(data)} bytes is not a whole number of 16-bit samples; "
                                "send LINEAR16 audio in even-sized chunks (this frame was dropped)")]
        if not data:
            return [self._error("empty audio frame ignored; send LINEAR16 audio")]
        self.seen_audio = True
        return [SendAudio(data)]

    def _config(self, text: str) -> list[Action]:
        try:
            raw = parse_json_object(text, "config")
            if raw in END_MESSAGES:
                raise FieldError("end of audio received before the config")
            language = check_language(get_str(raw, "language_code", self.options.default_language), "language_code")
            rate = get_int(raw, "sample_rate_hertz", self.options.default_sample_rate, 8000, 48000)
            encoding = get_str(raw, "encoding", "LINEAR16")
            if encoding.upper() not in SUPPORTED_ENCODINGS:
                raise FieldError(f"unsupported encoding {encoding!r}; only LINEAR16 (16-bit signed little-endian "
                                 "PCM, mono) is supported")
        except FieldError as exc:
            return self._fatal(f"invalid config: {exc}", 1008, "invalid config")
        self.echo = {"language_code": language, "sample_rate_hertz": rate, "encoding": encoding.upper()}
        engine, model = choose_engine(self.options, language)
        config = asr_pb2.StreamingConfig(
            engine=engine, model=model, language=language, encoding=asr_pb2.AUDIO_ENCODING_LINEAR16,
            sample_rate_hertz=rate, audio_channel_count=1, interim_results=self.options.interim_results,
            enable_automatic_punctuation=self.options.automatic_punctuation)
        self.state = State.STARTING
        return [StartStream(config)]

    # ---- core events ----------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            if self.state is State.STARTING:
                self.state = State.STREAMING
            return [SendJson({"type": "metadata", "status": "ready", **self.echo})]
        if kind == "result":
            result = response.result
            text = result.text.strip()
            if not self.options.automatic_punctuation:
                text = strip_punctuation(text)
            if not text:
                return []
            return [SendJson({"type": "transcript", "text": text, "is_final": result.is_final,
                              "confidence": round(float(result.confidence), 4)})]
        return []

    def core_error(self, error: CoreError) -> list[Action]:
        detail = describe_core_error(error.code, error.message, error.field_violations, error.retry_after)
        code = 1013 if error.code in ("UNAVAILABLE", "RESOURCE_EXHAUSTED") else \
            1008 if error.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE") else 1011
        return self._fatal(detail, code, error.code)

    def core_finished(self) -> list[Action]:
        self.state = State.DONE
        return [SendJson(COMPLETE), Close(1000)]

    # ---- runtime events -------------------------------------------------------------------
    def idle_timeout(self, default: float | None) -> float | None:
        if self.state is State.STREAMING and self.seen_audio:
            return self.options.end_after_silence
        if self.state in (State.ENDING, State.DONE):
            return None
        return default

    def idle(self) -> list[Action]:
        if self.state is State.STREAMING:
            # No audio for a while: that is the end of this client's stream.
            self.state = State.ENDING
            return [EndAudio()]
        if self.state in (State.AWAIT_CONFIG, State.STARTING):
            return self._fatal("no config or audio received in time; send the JSON config right after connecting",
                               1008, "idle timeout")
        return []

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [self._error(f"message of {size} bytes exceeds the {limit}-byte limit; send audio in chunks "
                            "of at most 16384 bytes (4096 recommended); this frame was dropped")]

    def refused(self, code: str, message: str) -> list[Action]:
        return self._fatal(message, 1013, code)

    def _fatal(self, detail: str, code: int, reason: str) -> list[Action]:
        """An error that ends the session: error, complete (the client waits for it), close."""
        self.state = State.DONE
        return [self._error(detail), SendJson(COMPLETE), Close(code, reason)]

    @staticmethod
    def _error(detail: str) -> SendJson:
        return SendJson({"type": "error", "detail": detail})
