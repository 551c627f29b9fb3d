"""funasr dialect (../shared/protocols/funasr.md) as a sans-I/O state machine.

Client: `start_recording` (optional "format", "sample_rate", "channels"), `audio_chunk` with
base64 audio in any of float32/int16/int32/WAV (detected, downmixed, resampled to 16 kHz),
`stop_recording`. Server: `recognition_result` (ISO 8601 timestamp), `status`, `error`.

Reply discipline: the document's client reads exactly one message after every audio_chunk,
so every audio_chunk is answered with exactly one message, at once: the oldest undelivered
news (a final, the newest partial, MODEL_LOADED, PROCESSING_AUDIO at the start of speech, or
an error about that chunk), otherwise a `recognition_result` repeating the current hypothesis.
Results are therefore delivered in reply to chunks while recording; after `stop_recording`
they are pushed as they come, followed by SESSION_STOPPED. The connection stays open for
another `start_recording` until the client closes it or 30 s pass without a frame.
"""
from __future__ import annotations

import base64
import binascii
import enum
import re
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable

from asr.v1 import asr_pb2
from bridges.codec import Action, Close, Codec, CoreError, EndAudio, SendAudio, SendJson, StartStream
from bridges.fields import FieldError, get_int, get_str, parse_json_object, whisper_model_for
from bridges.funasr.audio_format import TARGET_RATE, AudioFormatError, AudioNormalizer

CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
MODEL_UNAVAILABLE_CODES = frozenset({"UNAVAILABLE", "FAILED_PRECONDITION", "NOT_FOUND", "UNIMPLEMENTED"})


class State(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    RECORDING = "recording"
    STOPPING = "stopping"
    CLOSED = "closed"


def iso_now(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FunAsrCodec(Codec):
    def __init__(self, client_id: str, engine: str = "", language: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self.engine = engine
        self.language = language
        self.clock = clock
        self.state = State.IDLE
        self.outbox: deque[dict[str, Any]] = deque()
        self.hypothesis = ""
        self.confidence = 0.0
        self.close_when_stopped = False
        self.normalizer = AudioNormalizer()

    # ---- connection -----------------------------------------------------------------------
    def connected(self) -> list[Action]:
        if not CLIENT_ID.match(self.client_id):
            self.state = State.CLOSED
            return [self._error("SESSION_ERROR", "Invalid client_id",
                                f"client_id {self.client_id[:80]!r} must be 1-64 URL-safe characters "
                                "(letters, digits, '-', '_', '.', '~'), e.g. a UUID"), Close(1008, "invalid client_id")]
        return []

    def refused(self, code: str, message: str) -> list[Action]:
        return [self._error("SESSION_ERROR", "Connection refused", message), Close(1008 if code == "duplicate_session" else 1013, code)]

    # ---- client frames --------------------------------------------------------------------
    def text_frame(self, text: str) -> list[Action]:
        try:
            message = parse_json_object(text, "message")
            kind = get_str(message, "type", "")
        except FieldError as exc:
            return [self._error("SESSION_ERROR", "Invalid message", f"{exc}; send start_recording, audio_chunk "
                                "or stop_recording as JSON objects")]
        if kind == "start_recording":
            return self._start(message)
        if kind == "audio_chunk":
            return self._audio(message)
        if kind == "stop_recording":
            return self._stop()
        return [self._error("SESSION_ERROR", "Unknown message type",
                            f"type {kind!r} is not one of start_recording, audio_chunk, stop_recording")]

    def binary_frame(self, data: bytes) -> list[Action]:
        return [self._error("INVALID_AUDIO_FORMAT", "Binary frames are not accepted",
                            "send audio as base64 text in {\"type\": \"audio_chunk\", \"data\": ...}")]

    def _start(self, message: dict[str, Any]) -> list[Action]:
        if self.state is not State.IDLE:
            return [self._error("SESSION_ERROR", "Already recording",
                                "send stop_recording before starting a new recording")]
        try:
            fmt = get_str(message, "format", "auto").lower()
            rate = get_int(message, "sample_rate", TARGET_RATE, 8000, 192000)
            channels = get_int(message, "channels", 1, 1, 8)
            self.normalizer = AudioNormalizer(None if fmt == "auto" else fmt, rate, channels)
        except (FieldError, AudioFormatError) as exc:
            return [self._error("INVALID_AUDIO_FORMAT", "Invalid start_recording", str(exc))]
        self.state = State.STARTING
        self.outbox.clear()
        self.hypothesis, self.confidence = "", 0.0
        config = asr_pb2.StreamingConfig(
            engine=self.engine, model=whisper_model_for(self.language, self.engine), language=self.language,
            encoding=asr_pb2.AUDIO_ENCODING_FLOAT32, sample_rate_hertz=TARGET_RATE, audio_channel_count=1,
            interim_results=True, enable_automatic_punctuation=True, session_id=f"funasr-{self.client_id}")
        return [StartStream(config)]

    def _audio(self, message: dict[str, Any]) -> list[Action]:
        if self.state not in (State.STARTING, State.RECORDING):
            return [self._error("SESSION_ERROR", "Not recording", "send start_recording before audio_chunk")]
        data = message.get("data")
        if not isinstance(data, str) or not data:
            return [self._error("INVALID_AUDIO_FORMAT", "Missing audio data",
                                "audio_chunk needs \"data\": a non-empty base64 string")]
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            return [self._error("INVALID_AUDIO_FORMAT", "Invalid base64 audio data", f"{exc}; encode the raw "
                                "audio bytes with standard base64")]
        try:
            samples = self.normalizer.feed(raw)
        except AudioFormatError as exc:
            return [self._error("INVALID_AUDIO_FORMAT", "Unsupported audio format", str(exc))]
        actions: list[Action] = [SendAudio(samples.astype("<f4").tobytes())] if len(samples) else []
        return actions + [SendJson(self._reply())]

    def _stop(self) -> list[Action]:
        if self.state not in (State.STARTING, State.RECORDING):
            return [self._error("SESSION_ERROR", "Not recording", "stop_recording received with no recording open")]
        actions: list[Action] = []
        try:
            tail = self.normalizer.flush()
            if len(tail):
                actions.append(SendAudio(tail.astype("<f4").tobytes()))
        except AudioFormatError:
            pass
        self.state = State.STOPPING
        return actions + [EndAudio()] + self._drain_outbox()

    # ---- core events ----------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            started = response.session_started
            if self.state is State.STARTING:
                self.state = State.RECORDING
            self.outbox.append(self._status("MODEL_LOADED", f"Model {started.model or 'default'} "
                                            f"({started.engine or 'default engine'}) ready"))
            return [SendJson(self._status("SESSION_STARTED", "Recording started"))]
        if kind == "speech_event":
            if response.speech_event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN and self.state is State.RECORDING \
                    and not any(m.get("code") == "PROCESSING_AUDIO" for m in self.outbox):
                self.outbox.append(self._status("PROCESSING_AUDIO", "Speech detected; processing audio"))
            return []
        if kind != "result":
            return []
        result = response.result
        text = result.text.strip()
        payload = {"type": "recognition_result", "text": text, "is_final": result.is_final,
                   "timestamp": iso_now(self.clock), "confidence": round(float(result.confidence), 4)}
        self.outbox = deque(m for m in self.outbox if not (m["type"] == "recognition_result" and not m["is_final"]))
        if result.is_final:
            self.hypothesis, self.confidence = "", 0.0
            if not text:
                return []
        else:
            self.hypothesis, self.confidence = text, payload["confidence"]
        if self.state is State.STOPPING:
            return [SendJson(payload)] if result.is_final else []
        self.outbox.append(payload)
        return []

    def core_finished(self) -> list[Action]:
        actions = self._drain_outbox() + [SendJson(self._status("SESSION_STOPPED", "Recording stopped"))]
        self.state = State.IDLE
        if self.close_when_stopped:
            self.state = State.CLOSED
            actions.append(Close(1000, "connection timeout"))
        return actions

    def core_error(self, error: CoreError) -> list[Action]:
        self.state = State.IDLE
        if error.code in MODEL_UNAVAILABLE_CODES:
            code, message = "MODEL_UNAVAILABLE", "Model not available"
        elif any(f.endswith("audio") for f, _ in error.field_violations):
            code, message = "INVALID_AUDIO_FORMAT", "Audio rejected"
        else:
            code, message = "SESSION_ERROR", "Recognition failed"
        details = error.message or error.code
        if error.retry_after:
            details += f" (retry in {error.retry_after:.0f} s)"
        if code == "MODEL_UNAVAILABLE":
            details += "; the speech recognition service is starting or down, retry in a few seconds"
        actions: list[Action] = [*self._drain_outbox(), self._error(code, message, details)]
        if self.close_when_stopped:
            actions.append(Close(1011, "connection timeout"))
        return actions

    # ---- runtime events -------------------------------------------------------------------
    def idle(self) -> list[Action]:
        error = self._error("CONNECTION_TIMEOUT", "No audio received within timeout",
                            "no audio for 30 s; the connection is closed, reconnect to continue")
        if self.state in (State.STARTING, State.RECORDING):
            self.close_when_stopped = True
            return [error, *self._stop()]
        if self.state is State.STOPPING:
            self.close_when_stopped = True
            return []
        self.state = State.CLOSED
        return [error, Close(1000, "connection timeout")]

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [self._error("BUFFER_OVERFLOW", "Audio buffer exceeded capacity",
                            f"message of {size} bytes exceeds the {limit}-byte limit; send 1024-4096 samples per "
                            "audio_chunk (this chunk was dropped)")]

    def ending(self, reason: str) -> list[Action]:
        if self.state in (State.STARTING, State.RECORDING):
            self.state = State.STOPPING
            return self._drain_outbox()
        return []

    # ---- helpers --------------------------------------------------------------------------
    def _reply(self) -> dict[str, Any]:
        if self.outbox:
            return self.outbox.popleft()
        return {"type": "recognition_result", "text": self.hypothesis, "is_final": False,
                "timestamp": iso_now(self.clock), "confidence": self.confidence}

    def _drain_outbox(self) -> list[Action]:
        pending = [SendJson(m) for m in self.outbox if m["type"] != "recognition_result" or m["is_final"]]
        self.outbox.clear()
        return pending

    @staticmethod
    def _status(code: str, message: str) -> dict[str, Any]:
        return {"type": "status", "message": message, "code": code}

    @staticmethod
    def _error(code: str, message: str, details: str) -> SendJson:
        return SendJson({"type": "error", "message": message, "code": code, "details": details})
