"""The raw TCP transport (asyncio streams) behind bridges/transport.py.

What it maps
------------
- Framing is the dialect's (`TcpOptions.framer`, bridges/transports/framing.py): JSON lines,
  length-prefixed messages, or a JSON header line with an optional binary payload (Wyoming).
  A text message reaches the codec as `received_text`, bytes as `received_bytes`; the client's
  half-close (EOF) is `input_ended`: the session goes on and delivers its results, then closes.
- Outgoing text and JSON messages are lines (or frames) of the framer; bytes as the framer says.
- Endings: a normal end closes the connection; any other ending first sends one final line,
  `TcpOptions.final_line(word, reason, retry_after)` with the word of bridges/endings.py
  `TCP_WORDS` (default: `"client-error message of 32000 bytes exceeds the 20000-byte limit\\n"`,
  bridges/endings.py `tcp_line`; a dialect with its own error shape, e.g. a Wyoming `error`
  event, supplies its own), then closes. A dialect's codec usually sends its own error message
  before the ending; the final line is what any client of the transport can rely on.
- Before a session there is no request line: the runtime's checks see an `Upgrade` whose path
  is the dialect's `path`, whose headers are what `TcpOptions.credentials(first message)` returns
  (e.g. `{"Authorization": "Bearer <token>"}` from a token in the first message; without the
  hook no message is read first and no key can be presented), and whose client is the peer's
  address. A refusal is one final line with the word of `TCP_REFUSALS` ("unauthenticated no
  API key; ...") and a close; so is a first message that is unreadable, too large or late.

Limits (docs/limits.md): a message over `max_message_bytes` (a line, a length prefix or a
payload length above it) is refused before it is read: a final client-fault line and a close
(a byte stream cannot be resynchronised). The kernel send buffer is set on the listening socket
(accepted sockets inherit it) and asyncio's write buffer is kept small, so `send` blocks on a
client that does not read and the runtime's send timeout ends it. The first message (when
`credentials` is set) must arrive within `first_message_timeout`.

A dialect uses it with `transport="tcp"` and `transport_options={"tcp": TcpOptions(
framer=HeaderPayloadFramer(), credentials=token_of)}` on its `DialectSpec`; the spec's `path`
is what the runtime's routing sees ("/"). tests/bridges/transcribe_dialect.py is a whole
example. TLS (`--tls-cert/--tls-key`) works the same, except that TLS cannot half-close: a
dialect served over TLS needs an end message of its own.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as ssl_module
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from bridges.endings import TCP_REFUSALS, TCP_WORDS, EndKind, Ending, retry_seconds, tcp_line
from bridges.transport import (ClientGone, InputEnded, Outgoing, Received, ServerSetup, TransportClosed,
                               Upgrade, as_text_or_bytes)
from bridges.transports.framing import FrameTooLarge, Framer, LineFramer, Message, stream_limit
from bridges.transports.headers import Headers

log = logging.getLogger("bridges.transports.tcp")

WRITE_BUFFER_HIGH_BYTES = 64 * 1024  # asyncio's buffer per connection before `send` waits for the client


def default_final_line(word: str, message: str, retry_after: float | None) -> bytes:
    """bridges/endings.py `tcp_line` ("busy the bridge is at its limit ...; retry in 5 s")."""
    if retry_after is not None:
        message = f"{message}; retry in {retry_seconds(retry_after)} s"
    return tcp_line(word, message)


@dataclass(frozen=True)
class TcpOptions:
    """How a dialect speaks over raw TCP (`DialectSpec.transport_options["tcp"]`)."""

    framer: Framer = field(default_factory=LineFramer)
    # The first client message -> headers for the runtime's checks (an API key); None = no key
    # can be presented, and nothing is read before the checks.
    credentials: Callable[[list[Message]], Mapping[str, str]] | None = None
    # The final line of an error ending or a refusal: (word, message, retry seconds) -> bytes.
    final_line: Callable[[str, str, float | None], bytes] = default_final_line
    first_message_timeout: float = 10.0


class TcpTransport:
    """One accepted TCP connection (bridges.transport.Transport)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upgrade: Upgrade,
                 options: TcpOptions, max_message_bytes: int, first: list[Message]) -> None:
        self.reader = reader
        self.writer = writer
        self.upgrade = upgrade
        self.options = options
        self.max_message_bytes = max_message_bytes
        self._parts: list[Message] = list(first)
        self._input_ended = False
        self._gone: ClientGone | None = None
        self._closed = asyncio.Event()
        self._refusal: str | None = None

    async def receive(self) -> Received | InputEnded | ClientGone:
        if self._gone is not None:
            return self._gone
        if self._parts:
            return Received(self._parts.pop(0))
        if self._input_ended:  # the client half-closed: wait until the session ends the connection
            await self._closed.wait()
            return self._gone_with("closed")
        try:
            parts = await self.options.framer.read(self.reader, self.max_message_bytes)
        except FrameTooLarge as exc:
            self._refusal = f"client-error {exc}"
            await self.end_with(TCP_WORDS[EndKind.CLIENT_FAULT], str(exc), None)
            return self._gone_with(str(exc))
        except (asyncio.IncompleteReadError, ConnectionError, ssl_module.SSLError) as exc:
            return self._gone_with(f"connection lost ({type(exc).__name__})", lost=True)
        except (ValueError, UnicodeDecodeError) as exc:
            self._refusal = f"client-error unreadable message: {exc}"
            await self.end_with(TCP_WORDS[EndKind.CLIENT_FAULT], f"unreadable message: {exc}", None)
            return self._gone_with(self._refusal)
        if parts is None:
            self._input_ended = True
            return InputEnded()
        self._parts = parts[1:]
        return Received(parts[0])

    def first(self, parts: list[Message]) -> None:
        """The first message, read before the checks (`TcpOptions.credentials`): the codec gets it first."""
        self._parts = list(parts)

    def _gone_with(self, reason: str, lost: bool = False) -> ClientGone:
        self._gone = self._gone or ClientGone(reason, lost)
        return self._gone

    async def send(self, outgoing: Outgoing) -> int:
        if self.writer.is_closing():
            raise TransportClosed
        data = self.options.framer.encode(as_text_or_bytes(outgoing))
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            raise TransportClosed from None
        return len(data)

    async def close(self, ending: Ending) -> None:
        word = TCP_WORDS[ending.kind]
        await self.end_with(word, ending.reason, ending.retry_after)

    async def end_with(self, word: str, message: str, retry_after: float | None) -> None:
        """One final line (none for a normal end), then close."""
        if not self.writer.is_closing():
            with contextlib.suppress(ConnectionError, RuntimeError):
                if word:
                    self.writer.write(self.options.final_line(word, message or word, retry_after))
                await self.writer.drain()
            self.writer.close()
            with contextlib.suppress(ConnectionError, ssl_module.SSLError):
                await self.writer.wait_closed()
        self._closed.set()

    def abort(self) -> None:
        self.writer.transport.abort()
        self._closed.set()

    def layer_refusal(self) -> str | None:
        return self._refusal


class TcpServer:
    """Serves one dialect over raw TCP: the opening checks, then one transport per connection."""

    def __init__(self, setup: ServerSetup) -> None:
        self.setup = setup
        self.options: TcpOptions = setup.options.get("tcp") or TcpOptions()
        self._server: asyncio.Server | None = None
        self._socket: socket.socket | None = None

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None) -> None:
        self._socket = listening_socket(host, port, self.setup.limits.socket_send_buffer_bytes)
        self._server = await asyncio.start_server(self._serve, sock=self._socket, ssl=ssl,
                                                  limit=stream_limit(self.setup.limits.max_message_bytes))

    @property
    def port(self) -> int:
        assert self._socket is not None, "call start() first"
        return self._socket.getsockname()[1]

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections go on (Python 3.11's Server.close)."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.stop_accepting()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH_BYTES)
        address = writer.get_extra_info("peername") or ("?", 0)
        limit = self.setup.limits.max_message_bytes
        upgrade = Upgrade(path=self.setup.path, query={}, headers=Headers(), client=str(address[0]),
                          peer="%s:%s" % tuple(address[:2]), alive=lambda: not writer.is_closing(), method="")
        transport = TcpTransport(reader, writer, upgrade, self.options, limit, [])
        if self.options.credentials is not None:
            try:
                first = await asyncio.wait_for(self.options.framer.read(reader, limit),
                                               self.options.first_message_timeout) or []
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                return
            except (asyncio.TimeoutError, FrameTooLarge, ValueError) as exc:
                why = str(exc) or f"no message within {self.options.first_message_timeout:g} s"
                log.info("tcp client %s sent no usable first message: %s", upgrade.peer, why)
                await transport.end_with(TCP_WORDS[EndKind.CLIENT_FAULT], why, None)
                return
            transport.first(first)
            upgrade = replace(upgrade, headers=Headers(self.options.credentials(first).items()))
            transport.upgrade = upgrade
        refuse = self.setup.check(upgrade)
        if refuse is not None:
            await transport.end_with(TCP_REFUSALS[refuse.kind], refuse.message, refuse.retry_after)
            return
        await self.setup.handler(transport)


def listening_socket(host: str, port: int, send_buffer_bytes: int) -> socket.socket:
    """A listening TCP socket whose accepted connections inherit SO_SNDBUF (Linux), so a client
    that does not read fills a bounded kernel buffer and the send timeout notices it."""
    sock = socket.create_server((host or "0.0.0.0", port))
    if send_buffer_bytes:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
    return sock


def build(setup: ServerSetup) -> TcpServer:
    return TcpServer(setup)
