"""Sans-I/O dialect codecs: client messages and core responses in, actions out.

A codec is one connection's state machine (h11 style). It never touches a socket: the shared
runtime (bridges/runtime.py) feeds it events and carries out the actions it returns, in order.

Events (methods below), whatever the transport: `connected()` for the opening request,
`received_text`, `received_bytes`, `received_message` (a protobuf message, gRPC),
`input_ended` (the client half-closed: HTTP body done, TCP EOF, gRPC done_writing; results
still reach it), the core's responses and errors, timers and the runtime's refusals and ends.

Actions: the `Send*` family (bridges/transport.py: text, bytes, a JSON message, an SSE event, a
protobuf message; the transport encodes them), the core stream's (`StartStream`, `SendAudio`,
`SendControl`, `EndAudio`) and `Ending` (bridges/endings.py), which ends the session in the
transport's own shape.
"""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Any, Union

from google.protobuf.message import Message

from asr.v1 import asr_pb2
from bridges.endings import EndKind, Ending, client_fault, internal, normal, WS_MESSAGE_TOO_BIG
from bridges.faults import CoreError
from bridges.transport import SendBytes, SendEvent, SendJson, SendMessage, SendText


# ---- runtime events a codec is told about -------------------------------------------------
class Refusal(enum.StrEnum):
    """Why the runtime will not serve an upgraded connection (passed to `Codec.refused`)."""

    MAX_CONNECTIONS = "max_connections"  # the bridge is full (a backstop behind the 503 before the upgrade)
    DUPLICATE_SESSION = "duplicate_session"  # the connection's unique id is already connected
    SHUTTING_DOWN = "shutting_down"


class EndReason(enum.StrEnum):
    """Why the runtime ends a session it was serving (passed to `Codec.ending`)."""

    SHUTDOWN = "shutdown"
    MAX_DURATION = "max_duration"
    REPLACED = "replaced"  # a new connection took over the unique id; never passed to the codec


# ---- actions a codec asks the runtime to perform -------------------------------------------
# Sending to the client: SendText, SendBytes, SendJson, SendEvent, SendMessage (bridges/transport.py).
@dataclass(frozen=True)
class StartStream:
    """Open the gRPC Recognize stream to the core and send this config first."""

    config: asr_pb2.StreamingConfig


@dataclass(frozen=True)
class SendAudio:
    """Forward audio bytes (in the encoding/rate/channels of the StartStream config)."""

    audio: bytes


@dataclass(frozen=True)
class SendControl:
    control: asr_pb2.StreamControl


@dataclass(frozen=True)
class EndAudio:
    """Half-close the request stream: the core transcribes everything, sends the summary, ends OK."""


Send = Union[SendText, SendBytes, SendJson, SendEvent, SendMessage]
Action = Union[SendText, SendBytes, SendJson, SendEvent, SendMessage, StartStream, SendAudio, SendControl, EndAudio,
               Ending]
SEND_ACTIONS = (SendText, SendBytes, SendJson, SendEvent, SendMessage)

# Audio per message to the core: a client's larger frame is split (the core's own limit per
# message is 1 MiB, and its HTTP/2 window 256 KiB).
CORE_AUDIO_MESSAGE_BYTES = 256 * 1024


def send_audio(data: bytes) -> list[Action]:
    """`data` as core messages of at most CORE_AUDIO_MESSAGE_BYTES (a multiple of every sample size)."""
    return [SendAudio(data[i:i + CORE_AUDIO_MESSAGE_BYTES]) for i in range(0, len(data), CORE_AUDIO_MESSAGE_BYTES)]


class Codec(abc.ABC):
    """One connection of one dialect."""

    def connected(self) -> list[Action]:
        """The opening request was accepted (WebSocket handshake done, HTTP request, TCP
        connection, gRPC call)."""
        return []

    @abc.abstractmethod
    def received_text(self, text: str) -> list[Action]:
        ...

    @abc.abstractmethod
    def received_bytes(self, data: bytes) -> list[Action]:
        ...

    def received_message(self, message: Message) -> list[Action]:
        """A protobuf message (gRPC transports); refused by dialects that do not speak gRPC."""
        return [client_fault("this endpoint takes no protobuf messages")]

    def input_ended(self) -> list[Action]:
        """The client half-closed (HTTP body done, TCP EOF, gRPC done_writing) and waits for
        the results: by default the audio ends and the session delivers what follows."""
        return [EndAudio()]

    @abc.abstractmethod
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        ...

    @abc.abstractmethod
    def core_error(self, error: CoreError) -> list[Action]:
        """The core call failed; `error.message` is already public (scrubbed, with an error id).
        Use bridges/faults.py `classify(error)` for its kind and `error_ending(error)` to end."""

    def core_finished(self) -> list[Action]:
        """The core ended the call with OK (after its SessionSummary)."""
        return [normal()]

    def idle(self) -> list[Action]:
        """No client message for the dialect's idle timeout."""
        return [normal("idle timeout")]

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        """A client message exceeded the dialect's max message size (the message is dropped)."""
        return [client_fault(f"message of {size} bytes exceeds the {limit}-byte limit", WS_MESSAGE_TOO_BIG)]

    # ---- the shared runtime's events (bridges/runtime.py); all have safe defaults ----------
    def idle_timeout(self, default: float | None) -> float | None:
        """Seconds without a client message before `idle()` is called; None = no timer now.

        Asked again after every event, so a codec can use a short timer in one state (e.g.
        "end the stream after 2 s without audio") and none in another. `default` is the
        dialect's configured idle timeout.
        """
        return default

    def refused(self, code: Refusal, message: str) -> list[Action]:
        """The runtime will not serve this connection (`message` says why and what to do).

        Return the dialect's answer ending in an `Ending`; or, when the dialect can only answer
        later (whisperlive needs the uid of the options frame), no `Ending`: the connection then
        stays open, uncounted, until the codec ends it (bounded by its idle timeout).
        """
        kind = EndKind.SHUTTING_DOWN if code is Refusal.SHUTTING_DOWN else EndKind.BUSY
        return [Ending(kind, message)]

    def closed(self) -> None:
        """The connection is over (either side closed it); release anything held. No actions."""

    def client_gone(self) -> list[Action] | None:
        """The client's connection dropped (or a new one took over its unique id) while the core
        stream is open. None (the default): the session ends. A list of core actions (e.g. a
        finalize): the session is kept, core stream and all, for a new connection with the same
        unique id within the dialect's `resume_seconds` (`DialectSpec`); the core's responses
        meanwhile wait for it. Only for dialects whose document promises it (funasr)."""
        return None

    def resumed(self) -> list[Action]:
        """A new connection with the same unique id took over this kept session (after
        `client_gone`); what it is sent first. Core responses that waited follow."""
        return []

    def rejection(self, payload: dict[str, Any]) -> str | None:
        """The text of `payload` when it is this dialect's error shape (the runtime logs one
        WARNING per client message that got one); None for any other message."""
        if payload.get("type") != "error":
            return None
        return str(payload.get("error") or payload.get("detail") or payload.get("details") or payload.get("message"))

    def internal_error(self, error_id: str) -> list[Action]:
        """A bug in the bridge while handling this connection; the log has the traceback."""
        return [internal(f"internal error (error id {error_id})")]

    def ending(self, reason: EndReason) -> list[Action]:
        """The runtime is ending the session (SHUTDOWN or MAX_DURATION).

        After these actions the runtime half-closes the core stream itself (if one is open),
        waits for `core_finished()`, and ends the connection if the codec did not (a codec's
        NORMAL ending meanwhile becomes SHUTTING_DOWN or, for MAX_DURATION, CLIENT_FAULT).
        """
        return []
