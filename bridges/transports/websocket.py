"""The WebSocket transport (python-websockets' asyncio server) behind bridges/transport.py.

`WebSocketServer` runs the runtime's upgrade checks in websockets' `process_request` (a `Refuse`
becomes the HTTP response instead of the upgrade, bridges/endings.py `http_refusal`) and hands
each accepted connection to the runtime as a `WebSocketTransport`: text and JSON go out as text
frames, bytes and protobuf messages as binary frames, an SSE event as a text frame of its data;
an `Ending` closes with its `ws_code` or the kind's close code (`ws_close_code`).
Bounds (docs/limits.md): `max_size` is a backstop above the dialect's message limit
(`Limits.backstop_bytes`; larger frames: close 1009 by websockets itself), `max_queue` frames
are buffered before websockets stops reading the socket, and the kernel send buffer is set per
connection so a client that does not read is noticed by the runtime's send timeout.
"""
from __future__ import annotations

import logging
import socket
import ssl as ssl_module
import weakref
from dataclasses import dataclass
from urllib.parse import parse_qsl

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from bridges.endings import WS_CLIENT_FAULT_CODES, Ending, http_refusal, ws_close_code
from bridges.transport import (ClientGone, Outgoing, Received, ServerSetup, SessionHandler, TransportClosed, Upgrade,
                               UpgradeCheck, as_text_or_bytes)

log = logging.getLogger("bridges.transports.websocket")



@dataclass(frozen=True)
class WebSocketSettings:
    max_size_bytes: int  # frames above this are refused by websockets (close 1009)
    max_queue: int = 4  # frames buffered per connection before websockets stops reading the socket
    socket_send_buffer_bytes: int = 0  # SO_SNDBUF per connection; 0 = the kernel's autotuning
    open_timeout_seconds: float = 10.0
    ping_interval_seconds: float = 20.0
    ping_timeout_seconds: float = 20.0
    close_timeout_seconds: float = 5.0


def upgrade_of(connection: ServerConnection, request: Request) -> Upgrade:
    address = connection.remote_address
    path, _, query = request.path.partition("?")
    weak = weakref.ref(connection)  # the Upgrade must not keep its connection alive

    def alive() -> bool:
        live = weak()
        return live is not None and live.protocol.state is not State.CLOSED

    return Upgrade(path=path, query=dict(parse_qsl(query)), headers=request.headers,
                   client=address[0] if address else "?",
                   peer="%s:%s" % tuple(address[:2]) if address else "?", alive=alive)


class WebSocketTransport:
    """One accepted WebSocket connection (bridges.transport.Transport)."""

    def __init__(self, ws: ServerConnection, upgrade: Upgrade) -> None:
        self.ws = ws
        self.upgrade = upgrade

    async def receive(self) -> Received | ClientGone:
        try:
            return Received(await self.ws.recv())
        except ConnectionClosed:
            code = self.ws.close_code
            # 1000/1001: closed on purpose by either side; anything else (1006) is a lost connection
            return ClientGone(f"{code} {self.ws.close_reason or ''}".strip(), lost=code not in (1000, 1001))

    async def send(self, outgoing: Outgoing) -> int:
        data = as_text_or_bytes(outgoing)
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            raise TransportClosed from None
        return len(data.encode()) if isinstance(data, str) else len(data)

    async def close(self, ending: Ending) -> None:
        try:
            await self.ws.close(ws_close_code(ending), ending.reason.encode()[:120].decode(errors="ignore"))
        except ConnectionClosed:
            pass

    def abort(self) -> None:
        self.ws.transport.abort()

    def layer_refusal(self) -> str | None:
        protocol = self.ws.protocol
        sent = protocol.close_sent
        if (sent is None or sent.code not in WS_CLIENT_FAULT_CODES
                or getattr(protocol, "close_rcvd_then_sent", False)):
            return None
        return f"{sent.code} {sent.reason}"


class WebSocketServer:
    """Serves one dialect over WebSocket: the upgrade checks, then one transport per connection."""

    def __init__(self, settings: WebSocketSettings, check: UpgradeCheck, handler: SessionHandler) -> None:
        self.settings = settings
        self.check = check
        self.handler = handler
        self._server: Server | None = None
        self._upgrades: weakref.WeakKeyDictionary[ServerConnection, Upgrade] = weakref.WeakKeyDictionary()

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None) -> None:
        s = self.settings
        self._server = await serve(self._handle, host, port, process_request=self._process_request,
                                   max_size=s.max_size_bytes, max_queue=s.max_queue, ssl=ssl,
                                   ping_interval=s.ping_interval_seconds, ping_timeout=s.ping_timeout_seconds,
                                   close_timeout=s.close_timeout_seconds, open_timeout=s.open_timeout_seconds)

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return self._server.sockets[0].getsockname()[1]

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections go on."""
        if self._server is not None:
            self._server.close(close_connections=False)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        upgrade = upgrade_of(connection, request)
        refuse = self.check(upgrade)
        if refuse is not None:
            status, body, headers = http_refusal(refuse)
            response = connection.respond(status, body)
            for name, value in headers:
                response.headers[name] = value
            return response
        self._upgrades[connection] = upgrade
        sock = connection.transport.get_extra_info("socket")
        if self.settings.socket_send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.socket_send_buffer_bytes)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        upgrade = self._upgrades.pop(ws, None) or upgrade_of(ws, ws.request)
        await self.handler(WebSocketTransport(ws, upgrade))


def build(setup: ServerSetup) -> WebSocketServer:
    """The transport factory (bridges/transports/__init__.py): the runtime's limits as websockets'."""
    limits = setup.limits
    settings = WebSocketSettings(max_size_bytes=limits.backstop_bytes, max_queue=limits.transport_queue,
                                 socket_send_buffer_bytes=limits.socket_send_buffer_bytes)
    return WebSocketServer(settings, setup.check, setup.handler)
