"""The seam between the bridge runtime and a transport (WebSocket, HTTP, raw TCP, gRPC).

The runtime (bridges/runtime.py, bridges/session.py) owns limits, timeouts, auth, logging,
metrics, shutdown and the core stream; a transport only moves client messages in and out and
encodes what goes out. It meets the runtime at three points:

- its server is built by a factory named by `DialectSpec.transport` (registry:
  bridges/transports/__init__.py) from a `ServerSetup`: the dialect's path and options, the
  runtime's `Limits`, the opening checks and the session handler;
- before a session exists, the server turns the client's opening request (a WebSocket upgrade,
  an HTTP request, a TCP connection, a gRPC call) into an `Upgrade` and asks `setup.check`;
  a `Refuse` (bridges/endings.py: kind + message + retry time) ends it there, in the
  transport's own shape (an HTTP status, a gRPC status, a line and a close);
- for an accepted connection the runtime drives a `Transport`: `receive()` gives `Received`
  (text, bytes or a protobuf message), `InputEnded` (the client half-closed: HTTP body done,
  TCP EOF, gRPC done_writing; the session goes on delivering results) and, once and every
  time after, `ClientGone`; `send(outgoing)` encodes one `Outgoing` (below); `close(ending)`
  ends the connection in the transport's shape for an `Ending` (bridges/endings.py);
  `abort()` drops it when even the close cannot be delivered in time.

Names chosen: `Upgrade` stays the name of any opening request (it was the WebSocket upgrade
first); `Received` carries all three payload kinds so the pump has one size check.
"""
from __future__ import annotations

import json
import ssl as ssl_module
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Protocol, Union

from google.protobuf.message import Message

from bridges.endings import Ending, Refuse

if TYPE_CHECKING:
    from bridges.limits import Limits


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per connection attempt
class Upgrade:
    """A client's request to open a session, before any session exists."""

    path: str  # without the query (gRPC: "/package.Service/Method")
    query: dict[str, str]  # URL query parameters (the last value of a repeated name)
    headers: Mapping[str, str]  # case-insensitive lookups (gRPC: the call's metadata)
    client: str  # the client's IP address ("?" when unknown)
    peer: str  # "address:port"
    # False once the client is gone before its session began (a failed handshake).
    alive: Callable[[], bool] = field(default=lambda: True, compare=False, repr=False)
    method: str = "GET"  # the HTTP method (HTTP transport); "" where there is none


# One check of an Upgrade: None lets it through, a Refuse ends it.
UpgradeCheck = Callable[[Upgrade], "Refuse | None"]


# ---- what a transport receives --------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    """One client message: a text frame or line, a binary frame or body chunk, a protobuf message."""

    data: str | bytes | Message

    @property
    def size(self) -> int:
        if isinstance(self.data, bytes):
            return len(self.data)
        if isinstance(self.data, str):
            return len(self.data.encode())
        return self.data.ByteSize()


@dataclass(frozen=True)
class InputEnded:
    """The client half-closed: it sends nothing more but still reads the results."""


@dataclass(frozen=True)
class ClientGone:
    reason: str
    lost: bool = False  # the connection dropped (not closed in order by either side)


# ---- what a transport sends (the codec's Send actions) --------------------------------------
@dataclass(frozen=True)
class SendText:
    """One text message (a WebSocket text frame, a TCP line, an HTTP text body)."""

    text: str


@dataclass(frozen=True)
class SendBytes:
    """One binary message (a WebSocket binary frame, raw TCP bytes, an HTTP body chunk)."""

    data: bytes


@dataclass(frozen=True)
class SendJson:
    """One JSON message (a WebSocket text frame, an HTTP JSON body, a JSON line)."""

    payload: dict[str, Any]


@dataclass(frozen=True)
class SendEvent:
    """One server-sent event (HTTP text/event-stream); other transports send `data` as text."""

    data: str
    event: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class SendMessage:
    """One protobuf message (a gRPC response; elsewhere its serialized bytes)."""

    message: Message


Outgoing = Union[SendText, SendBytes, SendJson, SendEvent, SendMessage]


def json_text(payload: dict[str, Any]) -> str:
    """The one JSON encoding every transport uses for `SendJson`."""
    return json.dumps(payload, ensure_ascii=False)


def as_text_or_bytes(outgoing: Outgoing) -> str | bytes:
    """`outgoing` for a transport of text and binary messages (WebSocket, raw TCP)."""
    if isinstance(outgoing, SendText):
        return outgoing.text
    if isinstance(outgoing, SendJson):
        return json_text(outgoing.payload)
    if isinstance(outgoing, SendBytes):
        return outgoing.data
    if isinstance(outgoing, SendEvent):
        return outgoing.data
    return outgoing.message.SerializeToString()


class TransportClosed(Exception):
    """The client is gone: nothing more can be sent."""


class Transport(Protocol):
    """One accepted client connection."""

    upgrade: Upgrade

    async def receive(self) -> Received | InputEnded | ClientGone:
        """The next client message; `ClientGone` once (and every time after) the client is gone."""

    async def send(self, outgoing: Outgoing) -> int:
        """Encode and send one message; may wait for the client to read. Returns the bytes
        written (for the metrics). Raises TransportClosed."""

    async def close(self, ending: Ending) -> None:
        """End the connection in order in the transport's shape for `ending` (bridges/endings.py);
        may wait for the client; no error when it is gone."""

    def abort(self) -> None:
        """Drop the connection at once (a client that does not take even the close)."""

    def layer_refusal(self) -> str | None:
        """Why the transport itself closed on a client message (invalid UTF-8, over its size
        backstop, ...), or None; asked once the client is gone."""


# The handler the transport's server runs for each accepted connection.
SessionHandler = Callable[[Transport], Awaitable[None]]


@dataclass(frozen=True)
class ServerSetup:
    """What the runtime gives a transport factory (bridges/transports/__init__.py)."""

    dialect: str
    path: str  # the dialect's path pattern ("/ws/{client_id}"; gRPC: "/package.Service/Method")
    limits: "Limits"
    check: UpgradeCheck
    handler: SessionHandler
    # The dialect's transport-specific settings (DialectSpec.transport_options), e.g. the
    # gRPC service to register or the HTTP routes and static directory; each transport
    # documents the keys it reads.
    options: Mapping[str, Any] = field(default_factory=dict)


class TransportServer(Protocol):
    """A running server of one transport (built by a factory from a `ServerSetup`)."""

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None) -> None:
        ...

    @property
    def port(self) -> int:
        """The port it listens on (after start)."""

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections go on."""

    async def close(self) -> None:
        """Close everything still open."""


TransportFactory = Callable[[ServerSetup], TransportServer]
