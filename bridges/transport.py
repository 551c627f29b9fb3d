"""The seam between the bridge runtime and a transport (WebSocket today; SSE, raw TCP, gRPC next).

The runtime (bridges/runtime.py, bridges/session.py) owns limits, timeouts, auth, logging,
shutdown and the core stream; a transport only moves client frames in and out. It meets the
runtime at two points:

- before a session exists, the transport's server turns the client's opening request into an
  `Upgrade` and asks the runtime's checks; one answering with a `Refuse` ends it there (for a
  WebSocket: an HTTP response instead of the upgrade);
- for an accepted connection the runtime drives a `Transport`: `receive()` client frames,
  `send_text`/`send_bytes`, `close(code, reason)` and, when a close cannot be delivered in time,
  `abort()`.

Close codes are WebSocket close codes (docs/bridges.md); another transport maps them to its own
end (an HTTP status, a gRPC status). One module per transport lives in bridges/transports/.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Awaitable, Callable, Mapping, Protocol


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per connection attempt
class Upgrade:
    """A client's request to open a session, before any session exists."""

    path: str  # without the query
    query: dict[str, str]  # URL query parameters (the last value of a repeated name)
    headers: Mapping[str, str]  # case-insensitive lookups
    client: str  # the client's IP address ("?" when unknown)
    peer: str  # "address:port"
    # False once the client is gone before its session began (a failed handshake).
    alive: Callable[[], bool] = field(default=lambda: True, compare=False, repr=False)


@dataclass(frozen=True)
class Refuse:
    """Answer an `Upgrade` with this HTTP error instead of a session."""

    status: HTTPStatus
    body: str
    headers: tuple[tuple[str, str], ...] = ()


# One check of an Upgrade: None lets it through, a Refuse ends it.
UpgradeCheck = Callable[[Upgrade], "Refuse | None"]


@dataclass(frozen=True)
class ClientFrame:
    data: str | bytes


@dataclass(frozen=True)
class ClientGone:
    code: int | None
    reason: str


class TransportClosed(Exception):
    """The client is gone: nothing more can be sent."""


class Transport(Protocol):
    """One accepted client connection."""

    upgrade: Upgrade

    async def receive(self) -> ClientFrame | ClientGone:
        """The next client frame; `ClientGone` once (and every time after) the client is gone."""

    async def send_text(self, text: str) -> None:
        """Send one text frame; may wait for the client to read. Raises TransportClosed."""

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary frame; may wait for the client to read. Raises TransportClosed."""

    async def close(self, code: int, reason: str) -> None:
        """End the connection in order (may wait for the client); no error when it is gone."""

    def abort(self) -> None:
        """Drop the connection at once (a client that does not take even the close)."""

    @property
    def close_code(self) -> int | None:
        """The close code the connection ended with, when known."""

    def layer_refusal(self) -> str | None:
        """Why the transport itself closed on a client frame (invalid UTF-8, over its size
        backstop, ...), or None; asked once the client is gone."""


# The handler the transport's server runs for each accepted connection.
SessionHandler = Callable[[Transport], Awaitable[None]]
