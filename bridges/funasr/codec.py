"""funasr dialect (../shared/protocols/funasr.md) as a sans-I/O state machine.

Client: `start_recording` (optional "format", "sample_rate", "channels"), `audio_chunk` with
base64 audio in any of float32/int16/int32/WAV (detected, downmixed, resampled to 16 kHz),
`stop_recording`. Server: `recognition_result` (ISO 8601 timestamp), `status`, `error`.

The document is a Chinese recognition API: with no --language the session asks the core for
`zh`, and with no --engine for "funasr,whisper" (FunASR when installed, else Whisper; the core
picks the model for the language); SESSION_STARTED and MODEL_LOADED name the engine and model
actually serving.

Reply discipline (the document's voice-assistant client reads exactly one message after every
audio_chunk and exactly one after stop_recording):
- every audio_chunk is answered with exactly one message, at once: the oldest undelivered news
  (a final, a partial whose text changed, MODEL_LOADED, or an error about that chunk), else a
  PROCESSING_AUDIO status. Nothing is ever repeated.
- SESSION_STARTED is pushed when the core accepts the recording; the next chunk's reply is
  skipped so that it takes that chunk's place in a lockstep reader (a client that read it
  before sending audio gets the skipped reply after `REPLY_GRACE` seconds without a chunk).
- stop_recording is answered, once the core has finished, by one `recognition_result` with
  is_final true holding what was not sent as a final yet (empty when nothing is left: a client
  that acts on every final acts once per utterance), then SESSION_STOPPED, whose message carries
  the recording's whole transcript ("Recording stopped; transcript: ...").
A start_recording right after stop_recording starts the next recording as soon as the previous
one is finished. The connection stays open until the client closes it or 30 s pass without a
frame.

Session persistence ("use same client_id for reconnection within 5 minutes"): a connection that
drops during a recording leaves it open (`client_gone`: the utterance heard so far is finalized),
and a new connection with the same client_id within 5 minutes takes it over (`resumed`): its
start_recording is answered SESSION_STARTED "Recording resumed", the results the dropped
connection had not received come as its chunk replies, and the recording goes on.
"""
from __future__ import annotations

import base64
import binascii
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable

import grpc
import numpy as np

from asr.v1 import asr_pb2
from bridges.codec import (CORE_AUDIO_MESSAGE_BYTES, Action, Codec, EndAudio, EndReason, Refusal, SendControl, SendJson,
                           StartStream, send_audio)
from bridges.endings import EndKind, Ending, client_fault, normal
from bridges.faults import CoreError, classify, error_ending
from bridges.hygiene import CLIENT_ID_RULE, fit_session_id, valid_client_id
from bridges.codec_state import RecordingState as State
from bridges.fields import FieldError, get_int, get_str, parse_json_object
from bridges.funasr.audio_format import TARGET_RATE, AudioFormatError, AudioNormalizer

# Core statuses worded "Model not available" (the document's MODEL_UNAVAILABLE).
MODEL_UNAVAILABLE_CODES = frozenset({grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND,
                                     grpc.StatusCode.UNIMPLEMENTED})
DEFAULT_LANGUAGE = "zh"  # the document is a Chinese recognition API
DEFAULT_ENGINES = "funasr,whisper"  # FunASR when available, else multilingual Whisper
REPLY_GRACE = 1.0  # seconds: a skipped chunk reply is sent anyway when no next chunk comes
MAX_CORE_AUDIO_BYTES = CORE_AUDIO_MESSAGE_BYTES  # per message to the core (its limit is 1 MiB)
MAX_HELD_SAMPLES = 30 * TARGET_RATE  # audio of a next recording held while the previous one finishes


def iso_now(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audio_actions(samples: np.ndarray) -> list[Action]:
    """16 kHz float32 samples as core messages of at most MAX_CORE_AUDIO_BYTES each."""
    return send_audio(samples.astype("<f4").tobytes())


class FunAsrCodec(Codec):
    def __init__(self, client_id: str, engine: str = "", language: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self.engine = engine
        self.language = language or DEFAULT_LANGUAGE
        self.clock = clock
        self.state = State.IDLE
        self.outbox: deque[dict[str, Any]] = deque()
        self.close_when_stopped = False
        self.normalizer = AudioNormalizer()
        self.next_start: StartStream | None = None  # a start_recording received while stopping
        self._held: list[np.ndarray] = []  # its audio, sent once the previous recording finished
        self._stop_next = False  # ... and its stop_recording
        self._skips = 0  # pushed messages that take the place of the next chunk replies
        self._reply_owed = False  # a chunk reply was skipped; sent after REPLY_GRACE without a chunk
        self._last_partial = ""
        self._transcript = ""
        self._finals: list[tuple[str, float]] = []  # this recording's finals (text, confidence), in order
        self._finals_sent = 0  # how many of them the client was sent (always the first ones)
        self._resuming = False  # taken over by a reconnect: its start_recording continues the recording
        self._serving = ""  # engine, model and language of the recording

    # ---- connection -----------------------------------------------------------------------
    def connected(self) -> list[Action]:
        if not valid_client_id(self.client_id):
            self.state = State.CLOSED
            return [self._error("SESSION_ERROR", "Invalid client_id", f"the client_id in the URL must be {CLIENT_ID_RULE}"),
                    client_fault("invalid client_id")]
        return []

    def refused(self, code: Refusal, message: str) -> list[Action]:
        ending = client_fault(code) if code is Refusal.DUPLICATE_SESSION else Ending(EndKind.BUSY, code)
        return [self._error("SESSION_ERROR", "Connection refused", message), ending]

    # ---- client frames --------------------------------------------------------------------
    def received_text(self, text: str) -> list[Action]:
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

    def received_bytes(self, data: bytes) -> list[Action]:
        return [self._error("INVALID_AUDIO_FORMAT", "Binary frames are not accepted",
                            "send audio as base64 text in {\"type\": \"audio_chunk\", \"data\": ...}")]

    def _start(self, message: dict[str, Any]) -> list[Action]:
        if self._resuming:
            self._resuming = False
            if self.state in (State.STARTING, State.RECORDING):
                return self._resume_recording()
        if self.state is not State.IDLE and (self.state is not State.STOPPING or self.next_start is not None):
            return [self._error("SESSION_ERROR", "Already recording",
                                "send stop_recording before starting a new recording")]
        try:
            fmt = get_str(message, "format", "auto").lower()
            rate = get_int(message, "sample_rate", TARGET_RATE, 8000, 192000)
            channels = get_int(message, "channels", 1, 1, 8)
            self.normalizer = AudioNormalizer(None if fmt == "auto" else fmt, rate, channels)
        except (FieldError, AudioFormatError) as exc:
            return [self._error("INVALID_AUDIO_FORMAT", "Invalid start_recording", str(exc))]
        config = asr_pb2.StreamingConfig(
            engine=self.engine or DEFAULT_ENGINES,
            language=self.language, encoding=asr_pb2.AUDIO_ENCODING_FLOAT32, sample_rate_hertz=TARGET_RATE,
            audio_channel_count=1, interim_results=True, enable_automatic_punctuation=True,
            session_id=fit_session_id(f"funasr-{self.client_id}"))
        if self.state is State.STOPPING:  # begins once the previous recording is finished
            self.next_start, self._held, self._stop_next = StartStream(config), [], False
            return []
        return self._begin(StartStream(config))

    def _begin(self, start: StartStream) -> list[Action]:
        self.state = State.STARTING
        self._last_partial, self._transcript, self._finals, self._finals_sent = "", "", [], 0
        held, self._held = self._held, []
        actions = [start, *(action for samples in held for action in audio_actions(samples))]
        if self._stop_next:
            self._stop_next = False
            actions += self._stop()
        return actions

    def _audio(self, message: dict[str, Any]) -> list[Action]:
        self._resuming = False
        if self.state not in (State.STARTING, State.RECORDING) and self.next_start is None:
            return [self._error("SESSION_ERROR", "Not recording", "send start_recording before audio_chunk")]
        data = message.get("data")
        if not isinstance(data, str) or not data:
            return [self._error("INVALID_AUDIO_FORMAT", "Missing audio data",
                                "audio_chunk needs \"data\": a non-empty base64 string")]
        try:  # line breaks are allowed: Python's base64.encodebytes writes one every 76 characters
            raw = base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            return [self._error("INVALID_AUDIO_FORMAT", "Invalid base64 audio data", "data is not valid base64; "
                                "encode the raw audio bytes with standard base64")]
        try:
            samples = self.normalizer.feed(raw)
        except AudioFormatError as exc:
            return [self._error("INVALID_AUDIO_FORMAT", "Unsupported audio format", str(exc))]
        if self.next_start is not None:  # the previous recording is still finishing
            if sum(map(len, self._held)) + len(samples) > MAX_HELD_SAMPLES:
                return [self._error("BUFFER_OVERFLOW", "Audio buffer exceeded capacity",
                                    "the previous recording is still finishing; this chunk was dropped")]
            self._held.append(samples)
            return self._chunk_reply()
        return audio_actions(samples) + self._chunk_reply()

    def _chunk_reply(self) -> list[Action]:
        self._reply_owed = False
        if self._skips:
            self._skips -= 1
            self._reply_owed = True
            return []
        return [SendJson(self._next_news())]

    def _stop(self) -> list[Action]:
        if self.next_start is not None:  # a recording that has not begun yet: it ends as soon as it began
            self._stop_next = True
            return []
        if self.state not in (State.STARTING, State.RECORDING):
            return [self._error("SESSION_ERROR", "Not recording", "stop_recording received with no recording open")]
        actions: list[Action] = []
        try:
            actions += audio_actions(self.normalizer.flush())
        except AudioFormatError:
            pass
        self.state = State.STOPPING
        self._reply_owed = False
        return actions + [EndAudio()]

    # ---- core events ----------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            started = response.session_started
            if self.state is State.STARTING:
                self.state = State.RECORDING
            serving = self._serving = (f"engine {started.engine or 'default'}, model {started.model or 'default'}, "
                                       f"language {started.resolved_config.language or self.language}")
            self.outbox.append(self._status("MODEL_LOADED", f"Model ready ({serving})"))
            if self.state is not State.RECORDING:
                return []
            self._skips += 1
            return [SendJson(self._status("SESSION_STARTED", f"Recording started ({serving}; {self._audio_terms()})"))]
        if kind == "summary":
            self._transcript = response.summary.transcript.strip()
            return []
        if kind != "result":
            return []
        result = response.result
        text = result.text.strip()
        if result.is_final and text:
            self._finals.append((text, float(result.confidence)))
        if self.state is not State.RECORDING:
            return []  # after stop_recording what is left is sent as one final at the end
        self.outbox = deque(m for m in self.outbox if not (m["type"] == "recognition_result" and not m["is_final"]))
        if not text or (not result.is_final and text == self._last_partial):
            return []
        self.outbox.append({"type": "recognition_result", "text": text, "is_final": result.is_final,
                            "timestamp": iso_now(self.clock), "confidence": round(float(result.confidence), 4)})
        return []

    def core_finished(self) -> list[Action]:
        left = self._finals[self._finals_sent:]  # finals the client was not sent (queued, or after stop)
        confidence = sum(c for _, c in left) / len(left) if left else 0.0
        final = {"type": "recognition_result", "text": " ".join(text for text, _ in left), "is_final": True,
                 "timestamp": iso_now(self.clock), "confidence": round(confidence, 4)}
        transcript = self._transcript or " ".join(text for text, _ in self._finals)
        stopped = f"Recording stopped; transcript: {transcript}" if transcript else "Recording stopped; no speech"
        # The final is the reply to stop_recording; the rest takes the place of later chunk replies.
        actions = [*self._drain_statuses(), SendJson(self._status("SESSION_STOPPED", stopped))]
        self._skips += len(actions)
        return [SendJson(final), *actions, *self._after_recording()]

    def core_error(self, error: CoreError) -> list[Action]:
        details = error.message or error.code.name
        kind = classify(error)
        if kind in (EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN):  # "the recognition service is unavailable; retry in N s"
            code, message = "MODEL_UNAVAILABLE", "Recognition service unavailable"
        elif error.code in MODEL_UNAVAILABLE_CODES:
            code, message = "MODEL_UNAVAILABLE", "Model not available"
        elif any(f.endswith("audio") for f, _ in error.field_violations):
            code, message = "INVALID_AUDIO_FORMAT", "Audio rejected"
        else:
            code, message = "SESSION_ERROR", "Recognition failed"
        if error.retry_after and kind not in (EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN):
            details += f" (retry in {error.retry_after:.0f} s)"
        actions: list[Action] = [*self._drain_statuses(), self._error(code, message, details)]
        if self.state is State.RECORDING:
            self._skips += len(actions)
        return actions + self._after_recording(error)

    def _after_recording(self, error: CoreError | None = None) -> list[Action]:
        """The recording is over: close after a timeout, or begin a start_recording that waited."""
        self.state = State.IDLE
        self.outbox.clear()
        if self.close_when_stopped:
            self.state = State.CLOSED
            return [error_ending(error, "connection timeout") if error else normal("connection timeout")]
        if self.next_start is not None:
            start, self.next_start = self.next_start, None
            return self._begin(start)
        return []

    # ---- reconnection (bridges/resume.py) ---------------------------------------------------
    def client_gone(self) -> list[Action] | None:
        """Keep an open recording for a reconnect; what was heard before the drop is finalized,
        so the reconnecting client gets it at once."""
        if self.close_when_stopped or self.state not in (State.STARTING, State.RECORDING, State.STOPPING):
            return None
        if self.state is State.STOPPING:
            return []  # its whole transcript is on its way
        return [SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))]

    def resumed(self) -> list[Action]:
        """A reconnect took the recording over: a new reader, in step from its first message."""
        self._skips, self._reply_owed = 0, False
        self._resuming = True
        return []

    def _resume_recording(self) -> list[Action]:
        """The reconnecting client's start_recording: the recording goes on."""
        if self.state is State.STARTING:
            return []  # SESSION_STARTED comes when the core has accepted it
        self._skips += 1
        return [SendJson(self._status("SESSION_STARTED", f"Recording resumed ({self._serving}; results not yet "
                                                         "received follow as chunk replies)"))]

    # ---- runtime events -------------------------------------------------------------------
    def idle_timeout(self, default: float | None) -> float | None:
        if self._reply_owed:
            return REPLY_GRACE
        return default

    def idle(self) -> list[Action]:
        if self._reply_owed:  # the client read SESSION_STARTED before sending audio: answer now
            self._reply_owed = False
            return [SendJson(self._next_news())]
        error = self._error("CONNECTION_TIMEOUT", "No audio received within timeout",
                            "no audio for 30 s; the connection is closed, reconnect to continue")
        if self.state in (State.STARTING, State.RECORDING):
            self.close_when_stopped = True
            return [*self._drain_statuses(), error, *self._stop()]
        if self.state is State.STOPPING:
            self.close_when_stopped = True
            return []
        self.state = State.CLOSED
        return [*self._drain_statuses(), error, normal("connection timeout")]

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [self._error("BUFFER_OVERFLOW", "Audio buffer exceeded capacity",
                            f"message of {size} bytes exceeds the {limit}-byte limit; send 1024-4096 samples per "
                            "audio_chunk (this chunk was dropped)")]

    def ending(self, reason: EndReason) -> list[Action]:
        if self.state in (State.STARTING, State.RECORDING):
            self.state = State.STOPPING
            self._reply_owed = False
        self.next_start, self._held, self._stop_next = None, [], False
        return []

    # ---- helpers --------------------------------------------------------------------------
    def _audio_terms(self) -> str:
        """How raw audio is read: the document promises detection of the sample format only, so
        the rate (16 kHz unless told) and how to tell it are said where every client looks."""
        n = self.normalizer
        if (n.sample_rate, n.channels, n.format) == (TARGET_RATE, 1, None):
            return ('raw audio is taken as 16000 Hz mono, its format detected; for other audio send '
                    '"sample_rate", "channels" or "format" in start_recording, or a WAV header')
        fmt = n.format or "format detected"
        return f"raw audio is taken as {n.sample_rate} Hz, {n.channels} channel(s), {fmt}, as start_recording said"


    def _next_news(self) -> dict[str, Any]:
        """The oldest undelivered message, else an acknowledgement that adds nothing new."""
        if self.outbox:
            news = self.outbox.popleft()
            if news["type"] == "recognition_result" and not news["is_final"]:
                self._last_partial = news["text"]
            elif news["type"] == "recognition_result":
                self._finals_sent += 1
            return news
        return self._status("PROCESSING_AUDIO", "Audio chunk received")

    def _drain_statuses(self) -> list[Action]:
        """Queued status messages, in order (results are not sent after stop_recording)."""
        pending = [SendJson(m) for m in self.outbox if m["type"] == "status"]
        self.outbox.clear()
        return pending

    @staticmethod
    def _status(code: str, message: str) -> dict[str, Any]:
        return {"type": "status", "message": message, "code": code}

    @staticmethod
    def _error(code: str, message: str, details: str) -> SendJson:
        return SendJson({"type": "error", "message": message, "code": code, "details": details})
