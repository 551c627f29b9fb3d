"""Shared runtime for WebSocket dialect bridges: one server, one core stream per session.

Registering a dialect
---------------------
A dialect is a sans-I/O codec class (bridges/codec.py) plus a `DialectSpec`::

    # bridges/mydialect/__init__.py
    from bridges.runtime import DialectSpec, Limits

    def add_arguments(parser):            # optional: dialect-specific flags
        parser.add_argument("--my-flag", type=float, default=2.0)

    SPEC = DialectSpec(
        name="mydialect",
        path="/v1/stream/{room}",         # "{name}" segments become ConnectionInfo.params
        default_port=9000,
        codec_factory=lambda info, options: MyCodec(info, options),
        limits=Limits(max_connections=64, max_message_bytes=256 * 1024, idle_timeout=30.0),
        add_arguments=add_arguments,
    )

    # bridges/mydialect/__main__.py
    from bridges.cli import main
    from bridges.mydialect import SPEC
    main(SPEC)                            # python -m bridges.mydialect [--port P] [--core H:P] ...

`codec_factory(info, options)` is called once per connection with a `ConnectionInfo` (path,
params, peer, session id) and the parsed argparse namespace (common flags: host, port, core,
engine, limits; plus the dialect's own). In tests, run a bridge in-process with
`Bridge.from_argv(SPEC, ["--port", "0", "--core", addr])`, `await bridge.start()`,
`bridge.port`, `await bridge.shutdown()`.

What the runtime does for every dialect: routes the path (404 otherwise), refuses connections
over the total and per-client caps before the upgrade (503 + Retry-After), enforces max message
size / max session duration / idle timeout (through the codec, so the client gets the dialect's
own error shape) and the send timeout (docs/limits.md), keeps `unique_param` values unique among
live connections (refusing the newer one or, with `unique_takeover`, closing the older one),
lets the codec answer a refusal in its own shape (`Codec.refused`), opens one gRPC Recognize
stream per `StartStream` (gRPC round robin with health checks over the cores the `--core`
target names, see bridges/core_client.py), logs one line at session start
and one at session end with counts, and on SIGTERM/SIGINT stops accepting, lets open sessions
finish (half-close to the core, deliver finals) and exits.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import logging
import re
import socket
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qsl

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.protocol import State

from bridges import edge, metrics
from bridges.auth import FORWARDED_KEY, request_secret
from bridges.codec import Close, Codec
from bridges.core_client import DEFAULT_CORE, CorePool
from bridges.hygiene import escaped
from bridges.session import SessionLimits, SessionPump
from core_service.logs import SESSION_ID

log = logging.getLogger("bridges.runtime")

WS_MAX_QUEUE = 4  # frames websockets buffers per connection before it stops reading the socket
RETRY_AFTER_SECONDS = 5  # Retry-After of the 503 answered at the connection caps


def backstop_bytes(limits: "Limits") -> int:
    """websockets' max_size: twice the dialect's limit plus 64 KiB (larger frames: close 1009)."""
    return 2 * limits.max_message_bytes + 64 * 1024


@dataclass(frozen=True)
class Limits:
    max_connections: int = 100
    max_message_bytes: int = 1024 * 1024
    max_session_seconds: float | None = 3600.0
    idle_timeout: float | None = 30.0  # default passed to Codec.idle_timeout()
    drain_grace: float = 30.0  # how long a finishing session may wait for the core's finals
    send_timeout: float = 15.0  # a message the client does not take in this time ends the connection
    max_connections_per_client: int = 16  # per client IP address
    # Kernel send buffer per connection (SO_SNDBUF); bounds what a client that does not read
    # holds in the kernel, and lets send_timeout notice it after this much. 0 = kernel default.
    socket_send_buffer_bytes: int = 256 * 1024


@dataclass(frozen=True)
class ConnectionInfo:
    path: str
    params: dict[str, str]
    peer: str
    session_id: str
    query: dict[str, str] = field(default_factory=dict)  # URL query parameters (the last value of a repeated name)


CodecFactory = Callable[[ConnectionInfo, argparse.Namespace], Codec]


@dataclass(frozen=True)
class DialectSpec:
    name: str
    path: str
    default_port: int
    codec_factory: CodecFactory
    limits: Limits = field(default_factory=Limits)
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    # A path parameter whose value must be unique among live connections (e.g. client_id).
    unique_param: str | None = None
    # True: a new connection with a live unique_param value takes it over (the old connection
    # is closed: a reconnect usually comes before anyone noticed the old socket is dead).
    # False: the new connection is refused ("duplicate_session").
    unique_takeover: bool = False

    def path_regex(self) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", self.path)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        return re.compile(f"^{pattern}$")


def build_parser(spec: DialectSpec) -> argparse.ArgumentParser:
    limits = spec.limits
    parser = argparse.ArgumentParser(prog=f"python -m bridges.{spec.name}",
                                     description=f"{spec.name} WebSocket bridge to the asr.v1 core")
    parser.add_argument("--host", default="", help="interface to listen on (default: 127.0.0.1 without --api-keys, "
                                                   "0.0.0.0 with)")
    parser.add_argument("--port", type=int, default=spec.default_port, help="WebSocket port (0 = any free port)")
    parser.add_argument("--core", default=None,
                        help="gRPC target of the cores: dns:///HOST:PORT, ipv4:ADDR:PORT,ADDR:PORT, unix:PATH "
                             "or HOST:PORT[,HOST:PORT]; calls are spread round robin over the healthy cores "
                             "(default: $ASR_CORE or localhost:50051)")
    parser.add_argument("--engine", default="", help="core engine for every session (default: the core's default)")
    parser.add_argument("--max-connections", type=int, default=limits.max_connections)
    parser.add_argument("--max-message-bytes", type=int, default=limits.max_message_bytes)
    parser.add_argument("--max-session-seconds", type=float, default=limits.max_session_seconds)
    parser.add_argument("--idle-timeout", type=float, default=limits.idle_timeout,
                        help="seconds without a client frame before the dialect's idle handling")
    parser.add_argument("--drain-grace", type=float, default=limits.drain_grace,
                        help="seconds a finishing session may wait for its last results")
    parser.add_argument("--send-timeout", type=float, default=limits.send_timeout,
                        help="seconds a message may wait for a client that does not read before the "
                             "connection is closed and its core stream cancelled")
    parser.add_argument("--max-connections-per-client", type=int, default=limits.max_connections_per_client,
                        help="open connections per client IP address; more get HTTP 503 before the upgrade")
    parser.add_argument("--socket-send-buffer-bytes", type=int, default=limits.socket_send_buffer_bytes,
                        help="kernel send buffer per connection (SO_SNDBUF; 0 = the kernel's autotuning)")
    parser.add_argument("--log-level", default="INFO")
    edge.add_arguments(parser)
    if spec.add_arguments is not None:
        spec.add_arguments(parser)
    return parser


class Bridge:
    """One dialect's WebSocket server."""

    def __init__(self, spec: DialectSpec, options: argparse.Namespace, core: str) -> None:
        self.spec = spec
        self.options = options
        self.limits = replace(spec.limits, max_connections=options.max_connections,
                              max_message_bytes=options.max_message_bytes,
                              max_session_seconds=options.max_session_seconds or None,
                              idle_timeout=options.idle_timeout or None, drain_grace=options.drain_grace,
                              send_timeout=options.send_timeout,
                              max_connections_per_client=options.max_connections_per_client,
                              socket_send_buffer_bytes=options.socket_send_buffer_bytes)
        self.edge = edge.BridgeEdge.from_options(spec.name, options)
        self.pool = CorePool(core, credentials=self.edge.core_credentials)
        # Upgrade checks, in order; the first to answer with a response refuses the upgrade.
        # The connection caps come last, so only a connection that will be upgraded is counted.
        self._request_hooks = [self._route, self.edge.guard.process_request, self._admit]
        self._regex = spec.path_regex()
        self._server: Server | None = None
        self._sessions: dict[str, SessionPump] = {}
        self._unique: dict[str, SessionPump] = {}  # unique_param value -> the connection holding it
        # Connections let through _route and not yet finished, with their client address.
        self._admitted: dict[ServerConnection, str] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    @classmethod
    def from_argv(cls, spec: DialectSpec, argv: list[str]) -> "Bridge":
        """Build from command-line flags; --core falls back to $ASR_CORE, then localhost:50051."""
        options = build_parser(spec).parse_args(argv)
        return cls(spec, options, options.core or os.environ.get("ASR_CORE") or DEFAULT_CORE)

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        # The socket limit is a backstop above the dialect limit: frames between the two reach
        # the codec (frame_too_large) and get the dialect's own error shape; larger ones are
        # refused by websockets with 1009. max_queue bounds the frames websockets buffers
        # before it stops reading the socket (docs/limits.md).
        self.pool.connect()
        self._server = await serve(self._handle, self.edge.host, self.options.port,
                                   process_request=self._process_request, max_size=backstop_bytes(self.limits),
                                   max_queue=WS_MAX_QUEUE, ssl=self.edge.ssl.context if self.edge.ssl else None,
                                   ping_interval=20, ping_timeout=20, close_timeout=5, open_timeout=10)
        self.edge.start_metrics(self.options.metrics_port)
        log.info("bridge=%s listening on %s://%s:%d%s core=%s%s", self.spec.name, self.edge.scheme, self.edge.host,
                 self.port, self.spec.path, self.pool.target,
                 " (TLS)" if self.edge.core_credentials else "")

    def reload(self) -> None:
        """SIGHUP: re-read API keys and certificates; open sessions are not touched."""
        credentials = self.edge.reload(self.options)
        if credentials is not None:
            self.pool.set_credentials(credentials)

    async def shutdown(self) -> None:
        """Stop accepting, let open sessions finish (bounded by drain_grace), close."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close(close_connections=False)
        log.info("bridge=%s shutting down: finishing %d open session(s)", self.spec.name, len(self._sessions))
        for pump in list(self._sessions.values()):
            pump.request_end("shutdown")
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.limits.drain_grace + 5)
        self._server.close()
        await self._server.wait_closed()
        await self.pool.close()
        log.info("bridge=%s stopped", self.spec.name)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        for hook in self._request_hooks:
            response = hook(connection, request)
            if response is not None:
                return response
        return None

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if not self._regex.match(path):
            return connection.respond(HTTPStatus.NOT_FOUND, f"no WebSocket endpoint at {path}; use {self.spec.path}\n")
        return None

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse before the upgrade when the bridge or this client address is at its cap (503)."""
        self._forget_closed()
        client = connection.remote_address[0] if connection.remote_address else "?"
        if len(self._admitted) >= self.limits.max_connections:
            return self._busy(connection, client, f"the bridge is at its limit of {self.limits.max_connections} "
                                                  "connections; retry later")
        if sum(1 for c in self._admitted.values() if c == client) >= self.limits.max_connections_per_client:
            return self._busy(connection, client, f"at most {self.limits.max_connections_per_client} connections "
                                                  "per client address; close one or retry later")
        self._admitted[connection] = client
        sock = connection.transport.get_extra_info("socket")
        if self.limits.socket_send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.socket_send_buffer_bytes)
        return None

    def _busy(self, connection: ServerConnection, client: str, message: str) -> Response:
        log.warning("bridge=%s refused %s before the upgrade: %s", self.spec.name, escaped(client), message)
        response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, message + "\n")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    def _forget_closed(self) -> None:
        """Drop admitted connections whose handshake failed (their handler never ran)."""
        for connection in [c for c in self._admitted if c.protocol.state is State.CLOSED]:
            self._admitted.pop(connection, None)

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path.split("?", 1)[0]
        match = self._regex.match(path)
        params = match.groupdict() if match else {}
        session_id = f"{self.spec.name}-{next(self._ids)}"
        SESSION_ID.set(session_id)
        FORWARDED_KEY.set(request_secret(ws.request))  # read by the core call (bridges/auth.py)
        peer = "%s:%s" % tuple(ws.remote_address[:2]) if ws.remote_address else "?"
        query = dict(parse_qsl(ws.request.path.partition("?")[2]))
        info = ConnectionInfo(path, params, peer, session_id, query)
        try:
            codec = self.spec.codec_factory(info, self.options)
        except Exception:
            self._admitted.pop(ws, None)
            raise
        limits = SessionLimits(max_message_bytes=self.limits.max_message_bytes, idle_timeout=self.limits.idle_timeout,
                               max_session_seconds=self.limits.max_session_seconds,
                               drain_grace=self.limits.drain_grace, send_timeout=self.limits.send_timeout)
        pump = SessionPump(ws, codec, self.pool, session_id=session_id, dialect=self.spec.name, limits=limits)
        unique = params.get(self.spec.unique_param) if self.spec.unique_param else None
        refusal = self._refusal(unique)
        serving = refusal is None
        if refusal is None:
            first = codec.connected()
        else:
            first = codec.refused(*refusal)
            if not any(isinstance(action, Close) for action in first):
                # The codec answers later in its own shape (whisperlive: WAIT after the options
                # frame); its idle timeout bounds the wait. Otherwise the connection ends here.
                log.debug("session=%s refused (%s); the codec answers", session_id, refusal[0])
        task = asyncio.current_task()
        metrics.connection_opened(self.spec.name)
        if not serving:
            metrics.refused(self.spec.name, refusal[0])
        if serving:
            self._sessions[session_id] = pump
            if unique is not None:
                previous = self._unique.get(unique)
                if previous is not None:
                    log.info("session=%s takes over %s=%s from %s", session_id, self.spec.unique_param, unique,
                             previous.session_id)
                    previous.request_end("replaced")
                self._unique[unique] = pump
            if task is not None:
                self._tasks.add(task)
        log.info("session_start dialect=%s session=%s peer=%s path=%s%s", self.spec.name, session_id, peer,
                 escaped(path), "" if serving else " refused=true")
        try:
            await pump.run(first)
        except Exception:
            log.exception("session=%s failed", session_id)
        finally:
            self._admitted.pop(ws, None)
            codec.closed()
            if serving:
                self._sessions.pop(session_id, None)
                if unique is not None and self._unique.get(unique) is pump:
                    del self._unique[unique]
                if task is not None:
                    self._tasks.discard(task)
            metrics.connection_closed(self.spec.name, metrics.outcome(not serving, pump.stats.end,
                                                                      pump.stats.close_code))
            log.info("session_end %s", pump.summary())

    def _refusal(self, unique: str | None) -> tuple[str, str] | None:
        if self._stopping:
            return "shutting_down", "the bridge is shutting down; reconnect to another instance"
        if len(self._sessions) >= self.limits.max_connections:  # a backstop: _route refuses first (503)
            return "max_connections", (f"the bridge is at its limit of {self.limits.max_connections} "
                                       "connections; retry later")
        if unique is not None and unique in self._unique and not self.spec.unique_takeover:
            name = self.spec.unique_param
            return "duplicate_session", (f"{name} {unique!r} is already connected; use a different {name} "
                                         "or close the other connection")
        return None
