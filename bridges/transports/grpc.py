"""The gRPC transport (a grpc.aio server) behind bridges/transport.py.

What it maps
------------
A dialect names its methods in `DialectSpec.transport_options["grpc"]`, a tuple of
`GrpcMethod(path, request, response, streaming)`: the full method path
("/google.cloud.speech.v2.Speech/StreamingRecognize"), its request and response protobuf
classes, and whether it is bidirectional streaming (True) or unary (False). They are served
through generic handlers: no generated servicer, no .proto compiled into the bridge. The
spec's `path` must match every method path ("/test.Transcriber/{method}"); a codec tells the
methods apart by `ConnectionInfo.path` (tests/bridges/transcribe_dialect.py is a whole example).

- Each call is an opening request: the runtime's checks see an `Upgrade` whose path is the
  method path, whose headers are the call's metadata (so `authorization: Bearer <key>` and
  `x-api-key` work as on every transport, bridges/auth.py) and whose client is the peer's
  address. A `Refuse` aborts the call with the status of bridges/endings.py `GRPC_REFUSALS`
  (UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, RESOURCE_EXHAUSTED + RetryInfo).
- Requests reach the codec as `received_message`; the client's done_writing (and the end of
  a unary request) is `input_ended`: the session goes on delivering results.
- `SendMessage` writes one response (streaming) or sets the response (unary: the last one
  set is returned). Other sends are a codec bug for a gRPC dialect (TypeError).
- Endings: `bridges/endings.py grpc_ending` gives the status code; BUSY, UNAVAILABLE and
  SHUTTING_DOWN carry google.rpc.RetryInfo (grpc-status-details-bin, as the core sends it, so
  the SDK's `RecognizerError.retry_after` reads it); the ending's reason is the status details.

Limits (docs/limits.md): a request over `max_message_bytes` is refused by gRPC itself
(RESOURCE_EXHAUSTED) before it reaches the codec; `send` waits on HTTP/2 flow control, so the
runtime's send timeout ends a client that does not read. Drain: `stop_accepting` starts
`server.stop(grace)` (new calls get UNAVAILABLE at once, open calls finish within the drain
grace), `close` waits for it. TLS: the bridge's `--tls-cert/--tls-key` (`TlsFiles`: the PEM
files, named on the ssl context by bridges/edge.py, reloaded at the next handshake after a change).
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl as ssl_module
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from asr_common.durations import duration
from bridges.endings import GRPC_REFUSALS, Ending, RefuseKind, grpc_ending, retry_seconds
from bridges.transport import (ClientGone, InputEnded, Outgoing, Received, SendMessage, ServerSetup, TransportClosed,
                               Upgrade)
from bridges.transports.headers import Headers

log = logging.getLogger("bridges.transports.grpc")

GRACE_MARGIN_SECONDS = 5.0  # server.stop's grace beyond the drain grace: the runtime ends sessions first


@dataclass(frozen=True)
class GrpcMethod:
    """One method a gRPC dialect serves."""

    path: str  # "/package.Service/Method"
    request: type[Message]
    response: type[Message]
    streaming: bool = True  # bidirectional streaming; False = unary-unary

    @property
    def service(self) -> str:
        return self.path.strip("/").split("/")[0]

    @property
    def name(self) -> str:
        return self.path.strip("/").split("/")[1]


def status_details(code: grpc.StatusCode, message: str, retry_after: float | None) -> tuple[tuple[str, Any], ...]:
    """Trailing metadata carrying google.rpc.Status with RetryInfo (empty without a retry time)."""
    if retry_after is None:
        return ()
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=duration(retry_after)))
    return tuple(rpc_status.to_status(status).trailing_metadata)


def peer_address(peer: str) -> tuple[str, str]:
    """grpc's "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" -> (client address, "address:port")."""
    _, _, rest = peer.partition(":")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]") or "?"
    return host, f"{host}:{port}"


@dataclass
class TlsFiles:
    """The server's certificate chain and key for gRPC, which takes PEM bytes, not an
    ssl.SSLContext; read again at the next handshake after either file changed (as the other
    transports reload theirs on SIGHUP)."""

    cert: str
    key: str
    _stamp: tuple[float, float] = (0.0, 0.0)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(self._config(), self._changed)

    def _config(self) -> grpc.ServerCertificateConfiguration:
        self._stamp = (os.path.getmtime(self.cert), os.path.getmtime(self.key))
        with open(self.cert, "rb") as cert, open(self.key, "rb") as key:
            return grpc.ssl_server_certificate_configuration([(key.read(), cert.read())])

    def _changed(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            if (os.path.getmtime(self.cert), os.path.getmtime(self.key)) == self._stamp:
                return None
            return self._config()
        except OSError as exc:
            log.error("TLS files not reloaded, the previous ones stay in use: %s", exc)
            return None


class GrpcTransport:
    """One gRPC call (bridges.transport.Transport)."""

    def __init__(self, context: grpc.aio.ServicerContext, upgrade: Upgrade, method: GrpcMethod,
                 request: Message | None = None) -> None:
        self.context = context
        self.upgrade = upgrade
        self.method = method
        self.response: Message | None = None  # unary: what the call returns
        self._unary = request
        self._input_ended = False
        self._gone: ClientGone | None = None
        self._over = asyncio.Event()  # closed by the session, or the call is done
        context.add_done_callback(lambda _: self._over.set())

    async def receive(self) -> Received | InputEnded | ClientGone:
        if self._gone is not None:
            return self._gone
        if self._unary is not None:
            request, self._unary = self._unary, None
            return Received(request)
        if not self._input_ended and not self.method.streaming:
            self._input_ended = True
            return InputEnded()
        if not self._input_ended:
            read = asyncio.ensure_future(self.context.read())
            over = asyncio.ensure_future(self._over.wait())
            await asyncio.wait({read, over}, return_when=asyncio.FIRST_COMPLETED)
            over.cancel()
            if read.done() and read.exception() is None:
                message = read.result()
                if message is grpc.aio.EOF:
                    self._input_ended = True
                    return InputEnded()
                return Received(message)
            read.cancel()
        await self._over.wait()
        self._gone = ClientGone("call ended", lost=self.context.cancelled())
        return self._gone

    async def send(self, outgoing: Outgoing) -> int:
        if not isinstance(outgoing, SendMessage):
            raise TypeError(f"a gRPC dialect sends protobuf messages (SendMessage), not {type(outgoing).__name__}")
        if self._over.is_set() or self.context.done():
            raise TransportClosed
        if not self.method.streaming:
            self.response = outgoing.message
            return outgoing.message.ByteSize()
        try:
            await self.context.write(outgoing.message)
        except (grpc.aio.AbortError, grpc.aio.UsageError, asyncio.InvalidStateError, RuntimeError) as exc:
            raise TransportClosed from exc
        return outgoing.message.ByteSize()

    async def close(self, ending: Ending) -> None:
        code, retry_after = grpc_ending(ending)
        if code != grpc.StatusCode.OK and not self.context.done():
            self.context.set_code(code)
            self.context.set_details(ending.reason or code.name)
            self.context.set_trailing_metadata(status_details(code, ending.reason or code.name, retry_after))
            self.response = None
        self._over.set()

    def abort(self) -> None:
        self._over.set()

    def layer_refusal(self) -> str | None:
        return None


class GrpcServer:
    """Serves one dialect's gRPC methods: the opening checks, then one transport per call."""

    def __init__(self, setup: ServerSetup) -> None:
        self.setup = setup
        self.methods: tuple[GrpcMethod, ...] = tuple(setup.options.get("grpc", ()))
        if not self.methods:
            raise ValueError(f"the {setup.dialect} dialect names no gRPC methods; set "
                             "transport_options={'grpc': (GrpcMethod(...),)} on its DialectSpec")
        self.tls_files: tuple[str, str] | None = None  # (certificate chain, key) PEM paths
        self._server: grpc.aio.Server | None = None
        self._port = 0
        self._stopping: asyncio.Future | None = None

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None) -> None:
        limit = self.setup.limits.max_message_bytes
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                                ("grpc.max_send_message_length", max(limit, 4 * 1024 * 1024)),
                                                ("grpc.so_reuseport", 0)])
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = defaultdict(dict)
        for method in self.methods:
            by_service[method.service][method.name] = self._handler(method)
        self._server.add_generic_rpc_handlers(tuple(grpc.method_handlers_generic_handler(service, handlers)
                                                    for service, handlers in by_service.items()))
        address = f"{host or '0.0.0.0'}:{port}"
        tls = self.tls_files or getattr(ssl, "pem_files", None)
        if tls is not None:
            self._port = self._server.add_secure_port(address, TlsFiles(*tls).credentials())
        elif ssl is not None:
            raise ValueError("a gRPC bridge needs the PEM files of --tls-cert/--tls-key (GrpcServer.tls_files)")
        else:
            self._port = self._server.add_insecure_port(address)
        await self._server.start()

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return self._port

    def stop_accepting(self) -> None:
        if self._server is not None and self._stopping is None:
            self._stopping = asyncio.ensure_future(
                self._server.stop(self.setup.limits.drain_grace + GRACE_MARGIN_SECONDS))

    async def close(self) -> None:
        if self._server is None:
            return
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._server.stop(0))
        await self._stopping

    def _handler(self, method: GrpcMethod) -> grpc.RpcMethodHandler:
        serialize, deserialize = method.response.SerializeToString, method.request.FromString
        if method.streaming:
            async def stream(requests: Any, context: grpc.aio.ServicerContext) -> None:
                await self._serve(method, context, None)
            return grpc.stream_stream_rpc_method_handler(stream, request_deserializer=deserialize,
                                                         response_serializer=serialize)

        async def unary(request: Message, context: grpc.aio.ServicerContext) -> Message | None:
            return await self._serve(method, context, request)
        return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=deserialize,
                                                   response_serializer=serialize)

    async def _serve(self, method: GrpcMethod, context: grpc.aio.ServicerContext,
                     request: Message | None) -> Message | None:
        client, peer = peer_address(context.peer())
        metadata = Headers(context.invocation_metadata() or ())
        upgrade = Upgrade(path=method.path, query={}, headers=metadata, client=client, peer=peer,
                          alive=lambda: not context.done(), method="")
        refuse = self.setup.check(upgrade)
        if refuse is not None:
            code = GRPC_REFUSALS[refuse.kind]
            retry = float(retry_seconds(refuse.retry_after)) if refuse.kind is RefuseKind.BUSY else None
            await context.abort(code, refuse.message.strip(), status_details(code, refuse.message.strip(), retry))
        transport = GrpcTransport(context, upgrade, method, request)
        await self.setup.handler(transport)
        return transport.response if method.streaming is False else None


def build(setup: ServerSetup) -> GrpcServer:
    return GrpcServer(setup)
