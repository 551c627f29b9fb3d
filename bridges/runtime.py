"""Shared runtime for dialect bridges: one server, one core stream per session.

Registering a dialect
---------------------
A dialect is a sans-I/O codec class (bridges/codec.py) plus a `DialectSpec`; the runtime serves it
over the transport the spec names (bridges/transport.py; servers in bridges/transports/)::

    # bridges/mydialect/__init__.py
    from bridges.limits import Limits, limit
    from bridges.runtime import DialectSpec

    @dataclass(frozen=True)
    class MySettings:                     # optional: the dialect's own flags, generated
        my_gap_seconds: float = limit(2.0, "seconds without audio that end an utterance")

    SPEC = DialectSpec(
        name="mydialect",
        path="/v1/stream/{room}",         # "{name}" segments become ConnectionInfo.params
        default_port=9000,
        codec_factory=lambda info, bridge: MyCodec(info, bridge.settings),
        limits=Limits(max_connections=64, max_message_bytes=256 * 1024, idle_timeout=30.0),
        settings=MySettings(),
        transport="websocket",            # or "http", "tcp", "grpc"
    )

    # bridges/mydialect/__main__.py
    from bridges.cli import main
    from bridges.mydialect import SPEC
    main(SPEC)                            # python -m bridges.mydialect [--port P] [--core H:P] ...

and its name in bridges/dialects.py, so `make run` (python -m asr_stack) starts it on
`SPEC.port_in_stack`.

`codec_factory(info, bridge)` is called once per connection with a `ConnectionInfo` (path,
params, peer, session id, query) and the bridge's `BridgeContext` (the parsed flags, the
`Limits`, the dialect's parsed settings and its per-bridge state). In tests, run a bridge in-process with
`Bridge.from_argv(SPEC, ["--port", "0", "--core", addr])`, `await bridge.start()`,
`bridge.port`, `await bridge.shutdown()`.

What the runtime does for every dialect, on every transport: routes the path (404 otherwise),
checks the origin and the API key (bridges/auth.py), refuses connections over the total and
per-client caps before the session (busy: 503 + Retry-After on HTTP, RESOURCE_EXHAUSTED on gRPC), enforces max message
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
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from bridges import edge, metrics
from bridges.auth import FORWARDED_KEY, request_secret
from bridges.codec import Codec, EndReason, Refusal
from bridges.core_client import DEFAULT_CORE, CorePool
from bridges.endings import Ending, Refuse, RefuseKind
from bridges.hygiene import escaped
from bridges.limits import Limits, add_flags, from_options
from bridges.resume import ParkedSession, ParkedSessions
from bridges.session import SessionPump
from bridges.transport import ServerSetup, Transport, TransportServer, Upgrade
from bridges.transports import build_server
from asr_common.logs import SESSION_ID

log = logging.getLogger("bridges.runtime")

RETRY_AFTER_SECONDS = 5  # the retry time of a refusal at the connection caps
TAKEOVER_WAIT_SECONDS = 5.0  # how long a reconnect waits for the connection it replaces to let go


@dataclass(frozen=True)
class ConnectionInfo:
    path: str
    params: dict[str, str]
    peer: str
    session_id: str
    query: dict[str, str] = field(default_factory=dict)  # URL query parameters (the last value of a repeated name)
    headers: Mapping[str, str] = field(default_factory=dict)  # the opening request's (case-insensitive lookups)


@dataclass(frozen=True)
class BridgeContext:
    """What every codec of one bridge shares, handed to `codec_factory` with each connection."""

    options: argparse.Namespace  # the parsed command line (common flags and the dialect's own)
    limits: Limits  # the runtime's limits, as parsed (bridges/limits.py)
    settings: Any = None  # the dialect's own settings dataclass, as parsed (DialectSpec.settings)
    state: Any = None  # the dialect's per-bridge state (DialectSpec.make_state), e.g. whisperlive's Slots
    # The bridge's channel to the cores, for a dialect's own unary calls (e.g. wyoming's `describe`
    # answered from ListEngines); sessions never use it directly (StartStream does).
    pool: Any = None


CodecFactory = Callable[[ConnectionInfo, BridgeContext], Codec]


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
    # False: the new connection is refused (Refusal.DUPLICATE_SESSION).
    unique_takeover: bool = False
    # The port under `make run` (asr_stack) when default_port is taken there by
    # another dialect; None = default_port.
    stack_port: int | None = None
    # Seconds a session whose client dropped stays kept for a new connection with the same
    # unique_param (Codec.client_gone, bridges/resume.py); None = sessions end with their connection.
    resume_seconds: float | None = None
    # Flags accepted but not (fully) honoured: what to log at start-up, as WARNINGs.
    startup_warnings: Callable[[argparse.Namespace], list[str]] | None = None
    # Which server the runtime builds (bridges/transports/__init__.py FACTORIES): "websocket",
    # "http" (one port: request/response, SSE, WebSocket, static files), "tcp", "grpc".
    transport: str = "websocket"
    # The transport's settings for this dialect (ServerSetup.options; each transport names its keys).
    transport_options: Mapping[str, Any] = field(default_factory=dict)
    # The dialect's own limits and settings: a frozen dataclass instance whose fields carry
    # `help` metadata (bridges/limits.py `limit`): its flags are generated, and the parsed
    # instance is `BridgeContext.settings` for the codec factory.
    settings: Any = None
    # Per-bridge state shared by the dialect's codecs, built once from the parsed context.
    make_state: Callable[[BridgeContext], Any] | None = None
    # The protocol's own reference (a document of ../shared/protocols/ or the vendor's published
    # API) and what users should know about this bridge: the README's table of what runs and the
    # Kubernetes manifests are generated from these (asr_stack/catalog.py).
    reference: str = ""
    notes: str = ""
    # The dialect's own check of an opening request (its query parameters), after the key and
    # origin: a Refuse (BAD_REQUEST: HTTP 400) answers it before any session.
    check_upgrade: Callable[[Upgrade], Refuse | None] | None = None

    @property
    def port_in_stack(self) -> int:
        return self.stack_port or self.default_port

    def path_regex(self) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", self.path)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        return re.compile(f"^{pattern}$")


def build_parser(spec: DialectSpec) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m bridges.{spec.name}",
                                     description=f"{spec.name} bridge ({spec.transport}) to the asr.v1 core")
    parser.add_argument("--host", default="", help="interface to listen on (default: 127.0.0.1 without --api-keys, "
                                                   "0.0.0.0 with)")
    parser.add_argument("--port", type=int, default=spec.default_port, help="port to listen on (0 = any free port)")
    parser.add_argument("--core", default=None,
                        help="gRPC target of the cores: dns:///HOST:PORT, ipv4:ADDR:PORT,ADDR:PORT, unix:PATH "
                             "or HOST:PORT[,HOST:PORT]; calls are spread round robin over the healthy cores "
                             "(default: $ASR_CORE or localhost:50051)")
    parser.add_argument("--engine", default="", help="core engine for every session (default: the core's default)")
    parser.add_argument("--log-level", default="INFO")
    add_flags(parser, spec.limits, "limits (docs/limits.md)")
    if spec.settings is not None:
        add_flags(parser, spec.settings, f"{spec.name} settings")
    edge.add_arguments(parser)
    if spec.add_arguments is not None:
        spec.add_arguments(parser)
    return parser


class Bridge:
    """One dialect's server: the runtime around a transport's server."""

    def __init__(self, spec: DialectSpec, options: argparse.Namespace, core: str) -> None:
        self.spec = spec
        self.options = options
        self.limits = from_options(spec.limits, options)
        settings = from_options(spec.settings, options) if spec.settings is not None else None
        self.edge = edge.BridgeEdge.from_options(spec.name, options)
        self.pool = CorePool(core, credentials=self.edge.core_credentials)
        self.context = BridgeContext(options, self.limits, settings, pool=self.pool)
        if spec.make_state is not None:
            self.context = BridgeContext(options, self.limits, settings, spec.make_state(self.context), self.pool)
        # Upgrade checks, in order; the first to answer with a Refuse refuses the upgrade.
        # The connection caps come last, so only a connection that will be upgraded is counted.
        self._checks = [self._route, self.edge.guard.check, *([spec.check_upgrade] if spec.check_upgrade else []),
                        self._admit]
        self._regex = spec.path_regex()
        self._server: TransportServer | None = None
        self._sessions: dict[str, SessionPump] = {}
        self._unique: dict[str, SessionPump] = {}  # unique_param value -> the connection holding it
        # Upgrades let through every check and whose session has not finished yet.
        self._admitted: set[Upgrade] = set()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False
        self._kept = (ParkedSessions(spec.resume_seconds, self.limits.max_connections)
                      if spec.resume_seconds and spec.unique_param else None)

    @classmethod
    def from_argv(cls, spec: DialectSpec, argv: list[str]) -> "Bridge":
        """Build from command-line flags; --core falls back to $ASR_CORE, then localhost:50051."""
        options = build_parser(spec).parse_args(argv)
        return cls(spec, options, options.core or os.environ.get("ASR_CORE") or DEFAULT_CORE)

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return self._server.port

    async def start(self) -> None:
        self.pool.connect()
        setup = ServerSetup(self.spec.name, self.spec.path, self.limits, self._check, self._handle,
                            self.spec.transport_options)
        self._server = build_server(self.spec.transport, setup)
        await self._server.start(self.edge.host, self.options.port, self.edge.ssl.context if self.edge.ssl else None)
        self.edge.start_metrics(self.options.metrics_port)
        for warning in self.spec.startup_warnings(self.options) if self.spec.startup_warnings else []:
            log.warning("bridge=%s %s", self.spec.name, warning)
        log.info("bridge=%s listening on %s://%s:%d%s core=%s%s", self.spec.name, self.edge.scheme(self.spec.transport),
                 self.edge.host, self.port, self.spec.path, self.pool.target,
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
        self._server.stop_accepting()
        log.info("bridge=%s shutting down: finishing %d open session(s)", self.spec.name, len(self._sessions))
        for pump in list(self._sessions.values()):
            pump.request_end(EndReason.SHUTDOWN)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.limits.drain_grace + 5)
        if self._kept is not None:
            await self._kept.close()
        await self._server.close()
        await self.pool.close()
        log.info("bridge=%s stopped", self.spec.name)

    def _check(self, upgrade: Upgrade) -> Refuse | None:
        for check in self._checks:
            refuse = check(upgrade)
            if refuse is not None:
                return refuse
        return None

    def _route(self, upgrade: Upgrade) -> Refuse | None:
        if not self._regex.match(upgrade.path):
            return Refuse(RefuseKind.NOT_FOUND, f"no endpoint at {upgrade.path}; use {self.spec.path}")
        return None

    def _admit(self, upgrade: Upgrade) -> Refuse | None:
        """Refuse before the session when the bridge or this client address is at its cap (busy)."""
        self._forget_closed()
        if len(self._admitted) >= self.limits.max_connections:
            return self._busy(upgrade, f"the bridge is at its limit of {self.limits.max_connections} "
                                       "connections; retry later")
        if sum(1 for u in self._admitted if u.client == upgrade.client) >= self.limits.max_connections_per_client:
            return self._busy(upgrade, f"at most {self.limits.max_connections_per_client} connections "
                                       "per client address; close one or retry later")
        self._admitted.add(upgrade)
        return None

    def _busy(self, upgrade: Upgrade, message: str) -> Refuse:
        log.warning("bridge=%s refused %s before the session: %s", self.spec.name, escaped(upgrade.client), message)
        return Refuse(RefuseKind.BUSY, message, RETRY_AFTER_SECONDS)

    def _forget_closed(self) -> None:
        """Drop admitted upgrades whose handshake failed (their session never began)."""
        self._admitted = {u for u in self._admitted if u.alive()}

    async def _handle(self, transport: Transport) -> None:
        upgrade = transport.upgrade
        path, peer = upgrade.path, upgrade.peer
        match = self._regex.match(path)
        params = match.groupdict() if match else {}
        session_id = f"{self.spec.name}-{next(self._ids)}"
        SESSION_ID.set(session_id)
        FORWARDED_KEY.set(request_secret(upgrade))  # read by the core call (bridges/auth.py)
        info = ConnectionInfo(path, params, peer, session_id, dict(upgrade.query), upgrade.headers)
        unique = params.get(self.spec.unique_param) if self.spec.unique_param else None
        resume = await self._take_over(unique, session_id) if unique is not None and not self._stopping else None
        try:
            codec = resume.codec if resume is not None else self.spec.codec_factory(info, self.context)
        except Exception:
            self._admitted.discard(upgrade)
            raise
        park = None
        if self._kept is not None and unique is not None:
            kept = self._kept

            def park(session: ParkedSession, key: str = unique) -> bool:
                return not self._stopping and kept.park(key, session)
        pump = SessionPump(transport, codec, self.pool, session_id=session_id, dialect=self.spec.name, limits=self.limits,
                           park=park, resume=resume)
        refusal = self._refusal(unique)
        serving = refusal is None
        if refusal is None:
            first = codec.resumed() if resume is not None else codec.connected()
        else:
            first = codec.refused(*refusal)
            if not any(isinstance(action, Ending) for action in first):
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
                    previous.request_end(EndReason.REPLACED)
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
            self._admitted.discard(upgrade)
            if not pump.parked:
                codec.closed()
            if serving:
                self._sessions.pop(session_id, None)
                if unique is not None and self._unique.get(unique) is pump:
                    del self._unique[unique]
                if task is not None:
                    self._tasks.discard(task)
            metrics.connection_closed(self.spec.name, metrics.outcome(not serving, pump.stats.end,
                                                                      pump.stats.ending))
            log.info("session_end %s", pump.summary())

    async def _take_over(self, unique: str, session_id: str) -> ParkedSession | None:
        """A session kept for `unique` (bridges/resume.py), after the live connection holding
        `unique` (a socket nobody noticed was dead) has let go of it; None when there is none."""
        if self._kept is None:
            return None
        previous = self._unique.get(unique)
        if previous is not None:
            log.info("session=%s takes over %s=%s from %s", session_id, self.spec.unique_param, escaped(unique),
                     previous.session_id)
            previous.request_end(EndReason.REPLACED)
            try:
                await asyncio.wait_for(previous.done.wait(), TAKEOVER_WAIT_SECONDS)
            except asyncio.TimeoutError:
                log.warning("session=%s: %s did not let go of %s=%s in %g s; starting afresh", session_id,
                            previous.session_id, self.spec.unique_param, escaped(unique), TAKEOVER_WAIT_SECONDS)
        resume = self._kept.take(unique)
        if resume is not None:
            log.info("session=%s resumes session %s (%s=%s, dropped %.1f s ago)", session_id, resume.session_id,
                     self.spec.unique_param, escaped(unique), time.monotonic() - resume.parked_at)
        return resume

    def _refusal(self, unique: str | None) -> tuple[Refusal, str] | None:
        if self._stopping:
            return Refusal.SHUTTING_DOWN, "the bridge is shutting down; reconnect to another instance"
        if len(self._sessions) >= self.limits.max_connections:  # a backstop: _admit refuses first (503)
            return Refusal.MAX_CONNECTIONS, (f"the bridge is at its limit of {self.limits.max_connections} "
                                       "connections; retry later")
        if unique is not None and unique in self._unique and not self.spec.unique_takeover:
            name = self.spec.unique_param
            return Refusal.DUPLICATE_SESSION, (f"{name} {unique!r} is already connected; use a different {name} "
                                         "or close the other connection")
        return None
