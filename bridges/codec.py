"""Sans-I/O dialect codecs: WebSocket frames and core responses in, actions out.

A codec is one connection's state machine (h11 style). It never touches a socket: the shared
runtime (bridges/runtime.py) feeds it events and carries out the actions it returns, in order.
"""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any, Union

from asr.v1 import asr_pb2


class CloseCode(enum.IntEnum):
    """How a session ends, as WebSocket close codes (RFC 6455); another transport maps them to
    its own ending (an HTTP status, a gRPC status). Plain ints are accepted too."""

    NORMAL = 1000
    GOING_AWAY = 1001  # shutdown
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008  # the client broke a rule or a limit
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # busy or down


# Codes that mean "the client sent something unacceptable" (the runtime logs one WARNING).
CLIENT_FAULT_CLOSE_CODES = frozenset({CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_DATA,
                                      CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG})


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
@dataclass(frozen=True)
class SendJson:
    """Send one text frame holding this JSON object."""

    payload: dict[str, Any]


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


@dataclass(frozen=True)
class Close:
    """Close the WebSocket (after sending anything queued before this action)."""

    code: int = CloseCode.NORMAL
    reason: str = ""


Action = Union[SendJson, StartStream, SendAudio, SendControl, EndAudio, Close]

# Audio per message to the core: a client's larger frame is split (the core's own limit per
# message is 1 MiB, and its HTTP/2 window 256 KiB).
CORE_AUDIO_MESSAGE_BYTES = 256 * 1024


def send_audio(data: bytes) -> list[Action]:
    """`data` as core messages of at most CORE_AUDIO_MESSAGE_BYTES (a multiple of every sample size)."""
    return [SendAudio(data[i:i + CORE_AUDIO_MESSAGE_BYTES]) for i in range(0, len(data), CORE_AUDIO_MESSAGE_BYTES)]


@dataclass(frozen=True)
class CoreError:
    """The gRPC call to the core failed (or the core could not be reached)."""

    code: str  # grpc.StatusCode name, e.g. "INVALID_ARGUMENT", "UNAVAILABLE"
    message: str
    retry_after: float | None = None  # seconds, from google.rpc.RetryInfo
    reason: str = ""  # google.rpc.ErrorInfo.reason when present
    field_violations: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # BadRequest


class Codec(abc.ABC):
    """One connection of one dialect."""

    def connected(self) -> list[Action]:
        """The WebSocket handshake completed."""
        return []

    @abc.abstractmethod
    def text_frame(self, text: str) -> list[Action]:
        ...

    @abc.abstractmethod
    def binary_frame(self, data: bytes) -> list[Action]:
        ...

    @abc.abstractmethod
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        ...

    @abc.abstractmethod
    def core_error(self, error: CoreError) -> list[Action]:
        ...

    def core_finished(self) -> list[Action]:
        """The core ended the call with OK (after its SessionSummary)."""
        return [Close(CloseCode.NORMAL)]

    def idle(self) -> list[Action]:
        """No client frame for the dialect's idle timeout."""
        return [Close(CloseCode.NORMAL, "idle timeout")]

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        """A client frame exceeded the dialect's max message size (the frame is dropped)."""
        return [Close(CloseCode.MESSAGE_TOO_BIG, f"message of {size} bytes exceeds the {limit}-byte limit")]

    # ---- added for the shared runtime (bridges/runtime.py); all have safe defaults --------
    def idle_timeout(self, default: float | None) -> float | None:
        """Seconds without a client frame before `idle()` is called; None = no timer now.

        Asked again after every event, so a codec can use a short timer in one state (e.g.
        "end the stream after 2 s without audio") and none in another. `default` is the
        dialect's configured idle timeout.
        """
        return default

    def refused(self, code: Refusal, message: str) -> list[Action]:
        """The runtime will not serve this connection (`message` says why and what to do).

        Return the dialect's answer ending in a `Close`; or, when the dialect can only answer
        later (whisperlive needs the uid of the options frame), no `Close`: the connection then
        stays open, uncounted, until the codec closes it (bounded by its idle timeout).
        """
        return [Close(CloseCode.TRY_AGAIN_LATER, message)]

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
        WARNING per client frame that got one); None for any other message."""
        if payload.get("type") != "error":
            return None
        return str(payload.get("error") or payload.get("detail") or payload.get("details") or payload.get("message"))

    def internal_error(self, error_id: str) -> list[Action]:
        """A bug in the bridge while handling this connection; the log has the traceback."""
        return [Close(CloseCode.INTERNAL_ERROR, f"internal error (error id {error_id})")]

    def ending(self, reason: EndReason) -> list[Action]:
        """The runtime is ending the session (SHUTDOWN or MAX_DURATION).

        After these actions the runtime half-closes the core stream itself (if one is open),
        waits for `core_finished()`, and closes the socket if the codec did not.
        """
        return []

