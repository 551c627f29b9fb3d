"""The `rnnt` dialect (shared/protocols/rnnt.md): one connection's state machine, no I/O.

    idle --start_recording--> starting --session_started--> recording --stop_recording--> stopping
      ^                                                                                       |
      +------------------------------ summary / core error ----------------------------------+

The connection outlives a recording: after `recording_stopped` the client may start another,
at once: a `start_recording` that arrives while the previous recording is still finishing (its
core call not yet over) is held, with the audio that follows it, and begins when that call ends.
Every problem is answered with `{"type": "error", "error": ..., "timestamp": ...}`; only the
documented limits (server full, session length, idle) close the socket.

Limits: "maximum session duration" counts per recording, "connection timeout: 30 seconds idle"
applies while a recording is open (an open connection with no recording, as the HTML example
connects on page load, is kept alive by WebSocket pings). Either is said once, first (`error`);
then the recording is finished as if stopped (its last `transcription`s, `recording_stopped`
with the final transcript; audio still arriving is dropped without a word), then the connection
closes: a client fault (WebSocket 1008) for the limit, normally (1000) for idle.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import grpc

from asr.v1 import asr_pb2
from bridges.codec import (Action, Codec, EndAudio, EndReason, Refusal, SendAudio, SendControl,
                           SendJson, StartStream)
from bridges.endings import EndKind, Ending, client_fault, normal
from bridges.faults import CoreError
from bridges.limits import Limits, limit
from bridges.hygiene import CLIENT_ID_RULE, fit_session_id, valid_client_id
from bridges.codec_state import RecordingState as State
from bridges.fields import FieldError, parse_json
from .messages import (
    ConfigError,
    RecordingConfig,
    config_echo,
    connection_message,
    core_error_text,
    error_message,
    iso_timestamp,
    new_client_id,
    parse_recording_config,
    parse_silence_duration,
    parse_vad_threshold,
    result_message,
    stopped_message,
    vad_echo,
)

log = logging.getLogger(__name__)

MESSAGE_TYPES = ("start_recording", "stop_recording", "configure", "ping")


# The document's 'Rate Limits and Quotas': 10 connections, 8 KB frames, 30 s idle during a
# recording; the runtime's per-connection --max-session-seconds is off (the limit is per recording).
LIMITS = Limits(max_connections=10, max_message_bytes=8 * 1024, max_session_seconds=None, idle_timeout=30.0)


@dataclass(frozen=True)
class RnntSettings:
    """The dialect's own limits (flags generated: bridges/limits.py)."""

    max_recording_seconds: float | None = limit(
        60 * 60.0, "the document's 'maximum session duration', per recording: then recording_stopped, an error "
                   "and close 1008 (0 = no limit)", off=True)
    max_held_bytes: int = limit(1024 * 1024, "audio of a start_recording kept while the previous recording "
                                             "finishes; more is dropped with an error")


class RnntCodec(Codec):
    def __init__(
        self,
        client_id: str | None = None,
        *,
        engine: str = "",
        limits: Limits = LIMITS,
        settings: RnntSettings = RnntSettings(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        # An invalid client_id is refused in connected(); the generated one only names the refusal.
        self.bad_client_id = client_id if client_id and not valid_client_id(client_id) else None
        self.client_id = client_id if client_id and self.bad_client_id is None else new_client_id(clock())
        self.engine = engine
        self.limits = limits
        self.settings = settings
        self.idle_seconds = limits.idle_timeout or float("inf")
        self.max_recording_seconds = settings.max_recording_seconds or float("inf")
        self.clock = clock
        self.state = State.IDLE
        self.config = RecordingConfig()
        self.started: asr_pb2.SessionStarted | None = None
        self.recording_since = clock()
        self._last_frame = clock()
        self._pending_configured = 0
        self._recordings = 0
        self._next_start: StartStream | None = None  # held while the previous recording finishes
        self._held: list[bytes] = []
        self._config_before = self.config  # in force before the last start_recording (a refused one is undone)
        self._closing: Ending | None = None  # a limit stopped the recording: end so after its summary

    # ---- helpers -----------------------------------------------------------------------------
    def _error(self, text: str) -> list[Action]:
        return [SendJson(error_message(text, self.clock()))]

    def _fatal(self, text: str, ending: Ending) -> list[Action]:
        self.state = State.CLOSED
        return [*self._error(text), ending]

    def _session_over(self) -> list[Action]:
        """The runtime's --max-session-seconds (off by default for this dialect)."""
        minutes = self.max_recording_seconds / 60
        text = f"Maximum session duration of {minutes:g} minutes reached; reconnect to continue"
        return self._fatal(text, client_fault(text[:120]))

    def _finish_then_close(self, text: str, ending: Ending) -> list[Action]:
        """A limit ends the open recording: say so once, finish it (its transcriptions and
        recording_stopped follow), then end with `ending`."""
        self._closing = ending
        self._next_start, self._held = None, []
        actions = self._error(f"{text}; finishing the recording (its last transcriptions and recording_stopped "
                              "follow), then the connection closes")
        if self.state in (State.STARTING, State.RECORDING):
            self.state = State.STOPPING
            actions.append(EndAudio())
        return actions

    def _closed_after_recording(self) -> list[Action]:
        self.state = State.CLOSED
        ending = self._closing or normal()
        return [Ending(ending.kind, "recording finished; closing", ending.retry_after, ending.ws_code)]

    def _recording_left(self) -> float:
        return self.recording_since + self.max_recording_seconds - self.clock()

    def _over_time(self) -> list[Action] | None:
        """The per-recording limit, checked as frames arrive and by the idle timer."""
        self._last_frame = self.clock()
        if self.state not in (State.STARTING, State.RECORDING) or self._recording_left() > 0:
            return None
        minutes = self.max_recording_seconds / 60
        text = f"Maximum session duration of {minutes:g} minutes reached"
        return self._finish_then_close(text, client_fault(text))

    # ---- connection events -------------------------------------------------------------------
    def connected(self) -> list[Action]:
        if self.bad_client_id is not None:
            text = f"Invalid client_id: use {CLIENT_ID_RULE}"
            return self._fatal(text, client_fault(text[:120]))
        return [SendJson(connection_message(self.client_id))]

    def refused(self, code: Refusal, message: str) -> list[Action]:
        """The runtime will not serve this connection (max_connections, shutting_down, ...)."""
        self.state = State.CLOSED
        if code is Refusal.MAX_CONNECTIONS:
            text = (f"Server full: at most {self.limits.max_connections} concurrent connections; "
                    "retry in a few seconds")
        elif code is Refusal.SHUTTING_DOWN:
            text = "Server is shutting down; reconnect in a few seconds"
        else:
            text = f"Connection refused: {message}"
        return [*self._error(text), Ending(EndKind.BUSY, text[:120])]  # WebSocket 1013 for every refusal

    def ending(self, reason: EndReason) -> list[Action]:
        """The runtime ends the session: shutdown lets the recording finish, then closes."""
        self._next_start, self._held = None, []
        if reason is EndReason.MAX_DURATION:  # only with --max-session-seconds (off by default)
            return self._session_over()
        return self._error("Server is shutting down: finishing the current recording, then closing")

    def idle_timeout(self, default: float | None) -> float | None:
        """The idle rule while a recording is open, and the timer for the recording limit."""
        if self.state not in (State.STARTING, State.RECORDING) and self._next_start is None:
            return None
        since_frame = self.clock() - self._last_frame
        timers = [self.idle_seconds, since_frame + max(self._recording_left(), 0.0)]
        return max(min(timers), 0.0)

    def idle(self) -> list[Action]:
        if self.state in (State.STARTING, State.RECORDING) and self._recording_left() <= 0:
            return self._over_time() or []
        return self._finish_then_close(f"Connection idle for {self.idle_seconds:g} s during a recording "
                                       "(send audio or a ping to keep it open)", normal())

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return self._error(
            f"Frame of {size} bytes exceeds the {limit}-byte limit and was dropped; "
            "send audio in 100-200 ms chunks (3200-6400 bytes of 16 kHz PCM16)")

    # ---- client frames -----------------------------------------------------------------------
    def received_text(self, text: str) -> list[Action]:
        if (over := self._over_time()) is not None:
            return over + self.received_text(text)  # the recording stopped; the message still counts
        try:
            message = parse_json(text, "Message")
        except FieldError as exc:
            return self._error(f"Malformed JSON: {exc}; send one JSON object per text frame")
        if not isinstance(message, dict):
            return self._error(f"Expected a JSON object with a 'type' field, got {type(message).__name__}")
        kind = message.get("type")
        if kind is not None and not isinstance(kind, str):
            return self._error(f"'type' must be a string, one of {list(MESSAGE_TYPES)}")
        if self._closing is not None and kind in ("start_recording", "stop_recording", "configure"):
            if kind == "stop_recording":
                return []  # the recording is being finished already
            return self._error("The connection closes once the current recording has finished; reconnect for another")
        if kind == "start_recording":
            return self._start(message)
        if kind == "stop_recording":
            return self._stop()
        if kind == "configure":
            return self._configure(message)
        if kind == "ping":
            return [SendJson({"type": "pong", "timestamp": iso_timestamp(self.clock())})]
        if kind is None:
            return self._error(f"Message has no 'type'; expected one of {list(MESSAGE_TYPES)}")
        return self._error(f"Unknown message type {kind[:40]!r}; expected one of {list(MESSAGE_TYPES)}")

    def _start(self, message: dict[str, Any]) -> list[Action]:
        if self.state in (State.STARTING, State.RECORDING) or self._next_start is not None:
            return self._error("Already recording; send stop_recording before starting again")
        try:
            self._config_before, self.config = self.config, parse_recording_config(message.get("config"), self.config)
        except ConfigError as exc:
            return self._error(str(exc))
        self._recordings += 1
        session_id = fit_session_id(f"{self.client_id}-{self._recordings}")
        start = StartStream(self.config.streaming_config(self.engine, session_id))
        if self.state is State.STOPPING:  # the previous recording's core call is still finishing
            self._next_start, self._held = start, []
            return []
        return self._begin(start)

    def _begin(self, start: StartStream) -> list[Action]:
        self.state = State.STARTING
        self.started = None
        self._pending_configured = 0
        self.recording_since = self._last_frame = self.clock()
        held, self._held = self._held, []
        return [start, *(SendAudio(chunk) for chunk in held)]

    def _stop(self) -> list[Action]:
        if self._next_start is not None:  # stopping a recording that has not begun: it never will
            self._next_start, self._held = None, []
            return [SendJson(stopped_message(asr_pb2.SessionSummary(), self.clock()))]
        if self.state not in (State.STARTING, State.RECORDING):
            return self._error("Not recording; send start_recording first")
        self.state = State.STOPPING
        return [EndAudio()]

    def _configure(self, message: dict[str, Any]) -> list[Action]:
        try:
            threshold = parse_vad_threshold(message)
            silence = parse_silence_duration(message)
        except ConfigError as exc:
            return self._error(str(exc))
        if threshold is None and silence is None:
            return self._error("configure needs vad_threshold and/or silence_duration")
        self.config = self.config.with_vad(threshold, silence)
        if self.state in (State.STARTING, State.RECORDING):
            self._pending_configured += 1
            update = asr_pb2.UpdateSettings(vad=self.config.vad_config())
            return [SendControl(asr_pb2.StreamControl(update_settings=update))]
        # Not streaming: the values apply to the next start_recording.
        return [SendJson({"type": "configured", "config": config_echo(self.config, None)})]

    def received_bytes(self, data: bytes) -> list[Action]:
        if (over := self._over_time()) is not None:
            return over  # this frame belongs to the stopped recording: dropped
        if self.state is State.IDLE:
            return self._error("Audio received before start_recording; send {\"type\": \"start_recording\"} first")
        if self._next_start is not None:
            return self._hold(data)
        if self.state is State.STOPPING:
            if self._closing is not None:
                return []  # the limit was said once; the client may still be streaming
            return self._error("Audio received after stop_recording was dropped; start a new recording first")
        if self.state is State.CLOSED:
            return []
        if (problem := self._misaligned(data)) is not None:
            return problem
        return [SendAudio(data)]

    def _misaligned(self, data: bytes) -> list[Action] | None:
        """Nothing to send for an empty chunk, an error for one that is not whole frames."""
        if not data:
            return self._error("Empty audio chunk ignored; send PCM audio in binary frames")
        if len(data) % self.config.frame_bytes:
            return self._error(
                f"Audio chunk of {len(data)} bytes was dropped: {self.config.encoding} with "
                f"{self.config.channels} channel(s) needs a multiple of {self.config.frame_bytes} bytes")
        return None

    def _hold(self, data: bytes) -> list[Action]:
        """Audio for a recording that begins when the previous one has finished."""
        if (problem := self._misaligned(data)) is not None:
            return problem
        if sum(map(len, self._held)) + len(data) > self.settings.max_held_bytes:
            return self._error("Audio chunk dropped: the previous recording is still finishing; retry shortly")
        self._held.append(data)
        return []

    # ---- core events -------------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        now = self.clock()
        if kind == "session_started":
            self.started = response.session_started
            if self.state is State.STARTING:
                self.state = State.RECORDING
            return [SendJson({"type": "recording_started", "timestamp": iso_timestamp(now),
                              "config": config_echo(self.config, self.started)})]
        if kind == "result":
            result = response.result
            if not result.text.strip():
                return []
            return [SendJson(result_message(result, now))]
        if kind == "settings_updated":
            if self._pending_configured <= 0:
                return []
            self._pending_configured -= 1
            echo = config_echo(self.config, self.started)
            echo.update(vad_echo(self.config, response.settings_updated.vad))
            return [SendJson({"type": "configured", "config": echo})]
        if kind == "summary":  # the recording is over once the core call ends (core_finished)
            self.state = State.STOPPING
            actions: list[Action] = [SendJson(stopped_message(response.summary, now))]
            if self._closing is not None:
                actions += self._closed_after_recording()
            return actions
        return []

    def core_error(self, error: CoreError) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        actions = self._error(core_error_text(error))
        if error.code == grpc.StatusCode.INVALID_ARGUMENT and self.state is State.STARTING:
            self.config = self._config_before  # the core refused it: the next start_recording does not inherit it
        if self._closing is not None:
            return actions + self._closed_after_recording()
        return actions + self._recording_over()

    def core_finished(self) -> list[Action]:
        # The recording ended (recording_stopped was sent); the connection stays open for another.
        if self.state is State.CLOSED:
            return []
        if self._closing is not None:
            return self._closed_after_recording()
        return self._recording_over()

    def _recording_over(self) -> list[Action]:
        self.state = State.IDLE
        if self._next_start is not None:
            start, self._next_start = self._next_start, None
            return self._begin(start)
        return []


__all__ = ["LIMITS", "RnntCodec", "RnntSettings", "State"]
