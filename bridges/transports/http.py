"""The HTTP transport: one port (Starlette on uvicorn) for request/response, server-sent events,
WebSocket and static files.

How a dialect uses it
---------------------
`DialectSpec(transport="http", transport_options={"http": HttpOptions(routes=(...),
static=StaticDirectory("/", "web/"))})`, with `path` a pattern every session route matches
(the runtime routes by it too: "/v1/{endpoint}"). Each `HttpRoute(path, kind, methods)` is one
of: `EXCHANGE` (the request body is the input, one response answers it), `EVENTS` (the answer
is `text/event-stream`, the codec's messages streamed as they come) or `WEBSOCKET`
(bridges/transports/http_websocket.py). The codec sees the path (and `{name}` parameters, the
query) in its `ConnectionInfo`; the body reaches it as `received_bytes` chunks, then
`input_ended` (bridges/transports/http_exchange.py). Static files are served as they are,
without a session and without the runtime's checks (a page must load before it has a key).
tests/bridges/transcribe_dialect.py is a whole example (all three route kinds and a directory).

What it maps
------------
Before a session, every session route goes through the runtime's checks (routing, API key from
`Authorization`/`X-Api-Key`/`?api_key=` and origin as bridges/auth.py does, the connection
caps); a `Refuse` is the HTTP status of bridges/endings.py `http_refusal` (401 +
WWW-Authenticate, 403, 404, 503 + Retry-After) for a WebSocket too (the ASGI denial response),
its body the message as text or, with `HttpOptions.refusal_body`, in the dialect's error shape.
A request whose `Content-Length` is over `max_message_bytes` gets 413 before any session.
Endings: `http_ending` (200, 400, 413, 500, 503 + Retry-After) for request/response and an
event stream that has not started; WebSocket close codes on a WebSocket.

Limits (docs/limits.md): bodies up to `max_message_bytes`, read in chunks; WebSocket frames
up to `Limits.backstop_bytes`, one frame buffered before the socket is no longer read; the kernel
send buffer is set on the listening socket (accepted sockets inherit it), so a client that
does not read blocks `send` and the runtime's send timeout ends it (`abort` drops the TCP
connection). Drain: `stop_accepting` closes the listening socket and answers new requests on
kept-alive connections with 503; open requests finish (the runtime waits up to the drain
grace), then `close` stops uvicorn. TLS: the bridge's ssl context (bridges/edge.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
import ssl as ssl_module
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import parse_qsl

import uvicorn
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from uvicorn.protocols.http.h11_impl import H11Protocol

from bridges.endings import Refuse, RefuseKind, http_refusal
from bridges.transport import ServerSetup, Upgrade
from bridges.transports.http_exchange import EventStreamTransport, ExchangeTransport, respond
from bridges.transports.http_websocket import StarletteWebSocketTransport
from bridges.transports.tcp import listening_socket

log = logging.getLogger("bridges.transports.http")

STARTUP_TIMEOUT_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5


class RouteKind(enum.StrEnum):
    EXCHANGE = "exchange"  # request/response
    EVENTS = "events"  # server-sent events
    WEBSOCKET = "websocket"


@dataclass(frozen=True)
class HttpRoute:
    path: str  # Starlette's pattern: "/v1/audio/{name}"
    kind: RouteKind
    methods: tuple[str, ...] = ("POST",)  # EXCHANGE and EVENTS


@dataclass(frozen=True)
class StaticDirectory:
    path: str  # URL prefix ("/" for the site's root)
    directory: str  # served as is; index.html for a directory
    title: str = ""  # what the page is, for the launcher's line ("Live captions: http://localhost:8088/")


@dataclass(frozen=True)
class HttpOptions:
    routes: tuple[HttpRoute, ...]
    static: StaticDirectory | None = None
    # A refused request's body in the dialect's error shape: (status, message) -> (body, media type);
    # None: the message as plain text.
    refusal_body: Callable[[int, str], tuple[bytes, str]] | None = None


class TrackedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that remembers each connection's asyncio transport by peer
    address (a WebSocket upgrade keeps the same one), so a session can drop its connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.config.peer_transports[tuple(peer[:2])] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        if peer:
            self.config.peer_transports.pop(tuple(peer[:2]), None)
        super().connection_lost(exc)


class BridgeServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: the bridge (bridges/cli.py) owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


class HttpServer:
    """Serves one dialect over HTTP on one port."""

    def __init__(self, setup: ServerSetup) -> None:
        self.setup = setup
        options = setup.options.get("http")
        if not isinstance(options, HttpOptions):
            raise ValueError(f"the {setup.dialect} dialect names no HTTP routes; set "
                             "transport_options={'http': HttpOptions(routes=(...))} on its DialectSpec")
        self.options = options
        self.app = Starlette(routes=self._routes())  # with its exception middleware: StaticFiles' 404
        self._server: BridgeServer | None = None
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None
        self._accepting = True
        self._transports: dict[tuple[str, int], asyncio.Transport] = {}

    def _routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for route in self.options.routes:
            if route.kind is RouteKind.WEBSOCKET:
                routes.append(WebSocketRoute(route.path, self._websocket))
            else:
                routes.append(Route(route.path, SessionEndpoint(self, route.kind), methods=list(route.methods)))
        if self.options.static is not None:
            routes.append(Mount(self.options.static.path.rstrip("/"),
                                app=StaticFiles(directory=self.options.static.directory, html=True)))
        return routes

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None) -> None:
        limits = self.setup.limits
        self._socket = listening_socket(host, port, limits.socket_send_buffer_bytes)
        config = uvicorn.Config(self.app, http=TrackedH11Protocol, ws="websockets-sansio", lifespan="off",
                                log_config=None, access_log=False, server_header=False, proxy_headers=False,
                                ws_max_size=limits.backstop_bytes, ws_max_queue=limits.transport_queue,
                                ws_per_message_deflate=False, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                                timeout_graceful_shutdown=limits.close_timeout + 1,
                                ssl_context_factory=(lambda _config, _default: ssl) if ssl is not None else None)
        config.peer_transports = self._transports  # read by TrackedH11Protocol
        self._server = BridgeServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name=f"http-{self.setup.dialect}")
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the HTTP server did not start in {STARTUP_TIMEOUT_SECONDS:g} s")
            await asyncio.sleep(0.02)

    @property
    def port(self) -> int:
        assert self._socket is not None, "call start() first"
        return self._socket.getsockname()[1]

    def stop_accepting(self) -> None:
        self._accepting = False
        if self._server is not None:
            for server in getattr(self._server, "servers", []):
                server.close()

    async def close(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task

    # ---- opening requests -------------------------------------------------------------------
    def upgrade_of(self, scope: dict, alive: Callable[[], bool]) -> Upgrade:
        client = scope.get("client") or ("?", 0)
        return Upgrade(path=scope["path"], query=dict(parse_qsl(scope.get("query_string", b"").decode())),
                       headers=Headers(scope=scope), client=str(client[0]), peer=f"{client[0]}:{client[1]}",
                       alive=alive, method=scope.get("method", "GET"))

    def admit(self, upgrade: Upgrade) -> Refuse | None:
        if not self._accepting:
            return Refuse(RefuseKind.BUSY, "the bridge is shutting down; retry on another instance")
        return self.setup.check(upgrade)

    def refusal(self, status: int, message: str) -> tuple[bytes, str]:
        """The body and media type of a refused request."""
        if self.options.refusal_body is not None:
            return self.options.refusal_body(status, message)
        return message.encode(), "text/plain; charset=utf-8"

    def dropper(self, scope: dict) -> Callable[[], None]:
        """Drops the request's TCP connection (a client that does not take even the ending)."""
        client = scope.get("client")

        def drop() -> None:
            transport = self._transports.get(tuple(client)) if client else None
            if transport is not None:
                transport.abort()
        return drop

    async def _websocket(self, websocket: WebSocket) -> None:
        open_ = [True]
        upgrade = self.upgrade_of(websocket.scope, lambda: open_[0])
        refuse = self.admit(upgrade)
        if refuse is not None:
            status, body, headers = http_refusal(refuse)
            content, media_type = self.refusal(status, body)
            await websocket.send_denial_response(Response(content, status, dict(headers), media_type))
            return
        await websocket.accept()
        try:
            await self.setup.handler(StarletteWebSocketTransport(websocket, upgrade, self.dropper(websocket.scope)))
        finally:
            open_[0] = False


class SessionEndpoint:
    """The ASGI app of one request/response or event-stream route."""

    def __init__(self, server: HttpServer, kind: RouteKind) -> None:
        self.server = server
        self.kind = kind

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        server = self.server
        limit = server.setup.limits.max_message_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await respond(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                          f"the request body of {declared} bytes is over the {limit}-byte limit\n".encode(),
                          "text/plain; charset=utf-8")
            return
        cls = EventStreamTransport if self.kind is RouteKind.EVENTS else ExchangeTransport
        transport: ExchangeTransport | None = None
        upgrade = server.upgrade_of(scope, lambda: transport is None or not transport.done.is_set())
        refuse = server.admit(upgrade)
        if refuse is not None:
            status, body, headers = http_refusal(refuse)
            await respond(send, status, *server.refusal(status, body), headers)
            return
        transport = cls(receive, send, upgrade, limit, server.dropper(scope))
        try:
            await server.setup.handler(transport)
        finally:
            if not transport.done.is_set():  # the session ended without an answer: a bug, never silence
                log.error("dialect=%s session on %s ended without a response", server.setup.dialect, scope["path"])
                await respond(send, HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error\n", "text/plain")
            transport.done.set()


def build(setup: ServerSetup) -> HttpServer:
    return HttpServer(setup)
