"""Cross-cutting work around the servicer: metrics (outermost, so refused calls are counted) and
API-key authentication. Registered in core_service/server.py `serve` as
`[MetricsInterceptor(), AuthInterceptor(...)]`.

Auth: with a keys file, every RPC but `grpc.health.v1` needs metadata `authorization: Bearer S`
(or `x-api-key: S`). Missing or unknown key: UNAUTHENTICATED. On Recognize, the first request's
`config.engine` must be one of the key's `engines` (a preference list is narrowed to the allowed
names): PERMISSION_DENIED with BadRequest field `config.engine` otherwise. More than the key's
`max_sessions` open streams: RESOURCE_EXHAUSTED with RetryInfo. More audio than the key's
`max_stream_seconds`: the audio stops being read, the results of what was read are delivered,
then OUT_OF_RANGE. Logs name the key's `name`, never the secret.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
from asr.v1 import asr_pb2
from google.rpc import error_details_pb2, status_pb2

from asr_common.api_keys import ApiKey, KeyRing, presented_secret
from asr_common.durations import seconds as duration_seconds
from asr_common.logs import SESSION_ID

from . import metrics
from .errors import ApiError

log = logging.getLogger(__name__)

RECOGNIZE = "/asr.v1.RecognizerService/Recognize"
EXEMPT_PREFIX = "/grpc.health.v1.Health/"
# A refusal waits this long for the client's first message: a status sent while that write is in
# flight can reach asyncio clients as INTERNAL (grpc/grpc#36066).
FIRST_MESSAGE_WAIT_SECONDS = 0.5
KEY_BUSY_RETRY_SECONDS = 1.0

_BYTES_PER_SAMPLE = {asr_pb2.AUDIO_ENCODING_UNSPECIFIED: 2, asr_pb2.AUDIO_ENCODING_LINEAR16: 2,
                     asr_pb2.AUDIO_ENCODING_FLOAT32: 4, asr_pb2.AUDIO_ENCODING_INT32: 4,
                     asr_pb2.AUDIO_ENCODING_MULAW: 1, asr_pb2.AUDIO_ENCODING_ALAW: 1}
_G711 = (asr_pb2.AUDIO_ENCODING_MULAW, asr_pb2.AUDIO_ENCODING_ALAW)


def bytes_per_second(config: asr_pb2.StreamingConfig) -> float:
    """Audio bytes per second the config describes (with the core's defaults: 16 kHz, mono, LINEAR16;
    8 kHz for G.711). Compressed encodings (FLAC, MP3, Opus, AUTO) have no fixed rate: counted as
    16 kHz LINEAR16, which underestimates their audio time, so a key's max_stream_seconds holds
    for them only loosely (the core's --max-stream-seconds counts their decoded audio exactly)."""
    if config.encoding in _BYTES_PER_SAMPLE:
        rate = config.sample_rate_hertz or (8000 if config.encoding in _G711 else 16000)
        return _BYTES_PER_SAMPLE[config.encoding] * rate * (config.audio_channel_count or 1)
    return 2 * 16000.0


def _metadata(details: grpc.HandlerCallDetails) -> dict[str, str]:
    return {k.lower(): v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}


def _wrap(handler: grpc.RpcMethodHandler, behavior) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` running `behavior`."""
    kw = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior, **kw)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior, **kw)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior, **kw)
    return grpc.unary_unary_rpc_method_handler(behavior, **kw)


def _refusing(handler: grpc.RpcMethodHandler, error: ApiError) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s shape that ends the call with `error`."""
    async def refuse(request_or_iterator, context: grpc.aio.ServicerContext):
        if handler.request_streaming:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(anext(request_or_iterator.__aiter__()), FIRST_MESSAGE_WAIT_SECONDS)
        await context.abort_with_status(error.to_status())

    if handler.response_streaming:
        async def refuse_stream(request_or_iterator, context):
            await refuse(request_or_iterator, context)
            yield  # pragma: no cover - abort raised above
        return _wrap(handler, refuse_stream)
    return _wrap(handler, refuse)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: KeyRing, canonical: Callable[[str], str], default_engine: str) -> None:
        self.keys = keys
        self._canonical = canonical
        self._default_engine = default_engine
        self._open: dict[str, int] = {}  # key name -> open Recognize streams

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or not self.keys.enabled or details.method.startswith(EXEMPT_PREFIX):
            return handler
        meta = _metadata(details)
        secret = presented_secret(meta.get("authorization"), meta.get("x-api-key"))
        key = self.keys.find(secret)
        if key is None:
            why = "no API key" if secret is None else "an unknown API key"
            log.warning("refused %s: %s", details.method, why)
            metrics.AUTH_FAILURES.labels("UNAUTHENTICATED").inc()
            return _refusing(handler, ApiError(
                grpc.StatusCode.UNAUTHENTICATED,
                f"{why}; send metadata `authorization: Bearer <key>` (or `x-api-key: <key>`)",
                reason="API_KEY_MISSING" if secret is None else "API_KEY_INVALID"))
        if details.method != RECOGNIZE:
            return handler
        busy = self._over_limit(key)
        if busy is not None:
            metrics.AUTH_FAILURES.labels("RESOURCE_EXHAUSTED").inc()
            return _refusing(handler, busy)
        return _wrap(handler, self._recognize(handler.stream_stream, key))

    def _over_limit(self, key: ApiKey) -> ApiError | None:
        if key.max_sessions is not None and self._open.get(key.name, 0) >= key.max_sessions:
            log.warning("refused a stream for key %s: %d of %d streams open", key.name,
                        self._open.get(key.name, 0), key.max_sessions)
            return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"this API key may open {key.max_sessions} stream(s) at once and all are in use; "
                            "retry when one ends", reason="KEY_MAX_SESSIONS", retry_after=KEY_BUSY_RETRY_SECONDS,
                            metadata={"key": key.name, "max_sessions": str(key.max_sessions)})
        return None

    def _engine_check(self, key: ApiKey, config: asr_pb2.StreamingConfig) -> ApiError | None:
        """None if `config.engine` is allowed for `key` (narrowing a preference list in place)."""
        if key.engines is None:
            return None
        allowed = {self._canonical_or_same(e) for e in key.engines}
        asked = [n.strip() for n in config.engine.split(",") if n.strip()] or [self._default_engine]
        kept = [n for n in asked if self._canonical_or_same(n) in allowed]
        if not kept:
            return ApiError(grpc.StatusCode.PERMISSION_DENIED,
                            f"this API key may use the engines {sorted(allowed)}, not {', '.join(asked)}; "
                            "set config.engine to one of them", reason="ENGINE_NOT_ALLOWED",
                            field_name="config.engine", metadata={"key": key.name})
        if config.engine and len(kept) < len(asked):
            config.engine = ",".join(kept)
        return None

    def _canonical_or_same(self, name: str) -> str:
        try:
            return self._canonical(name)
        except Exception:  # an unknown name: the servicer reports it with its own message
            return name.strip().lower()

    def _recognize(self, inner, key: ApiKey):
        async def behavior(request_iterator, context: grpc.aio.ServicerContext):
            self._open[key.name] = self._open.get(key.name, 0) + 1
            metrics.KEY_STREAMS_ACTIVE.labels(key.name).inc()
            log.info("stream opened with key %s (%d/%s open)", key.name, self._open[key.name],
                     key.max_sessions or "unlimited")
            requests = request_iterator.__aiter__()
            limit = _StreamLimit(key)
            try:
                try:
                    first = await anext(requests)
                except StopAsyncIteration:
                    first = None
                if first is not None and first.WhichOneof("request") == "config":
                    refusal = self._engine_check(key, first.config)
                    if refusal is not None:
                        log.warning("refused a stream for key %s: %s", key.name, refusal.message)
                        metrics.AUTH_FAILURES.labels("PERMISSION_DENIED").inc()
                        await context.abort_with_status(refusal.to_status())
                    limit.configure(first.config)
                async for response in inner(limit.requests(first, requests), context):
                    yield response
                if limit.exceeded:
                    await context.abort_with_status(limit.error().to_status())
            finally:
                self._open[key.name] -= 1
                metrics.KEY_STREAMS_ACTIVE.labels(key.name).dec()
        return behavior


@dataclass
class _StreamLimit:
    """Stops reading a stream's audio past the key's max_stream_seconds."""

    key: ApiKey
    rate: float = 32000.0
    received: int = 0
    exceeded: bool = False

    def configure(self, config: asr_pb2.StreamingConfig) -> None:
        self.rate = bytes_per_second(config)

    async def requests(self, first, rest: AsyncIterator) -> AsyncIterator:
        if first is None:
            return
        yield first
        async for request in rest:
            if request.WhichOneof("request") == "audio" and self.key.max_stream_seconds is not None:
                self.received += len(request.audio)
                if self.received / self.rate > self.key.max_stream_seconds:
                    self.exceeded = True
                    log.info("key %s: stream passed %.0f s of audio; ending it", self.key.name,
                             self.key.max_stream_seconds)
                    return
            yield request

    def error(self) -> ApiError:
        return ApiError(grpc.StatusCode.OUT_OF_RANGE,
                        f"this API key allows {self.key.max_stream_seconds:g} s of audio per stream; "
                        "the results of the audio up to that point were delivered; open a new stream to go on",
                        reason="KEY_MAX_STREAM_SECONDS", metadata={"key": self.key.name})


@dataclass
class _CallObserver:
    """What one Recognize call did, for the metrics: audio received (with arrival times),
    engine and model, results and their latency."""

    rate: float = 32000.0
    received_bytes: int = 0
    engine: str = ""
    model: str = ""
    started: bool = False
    # (audio seconds received so far, monotonic time) per audio message, oldest first
    arrivals: deque = field(default_factory=lambda: deque(maxlen=100_000))

    async def requests(self, iterator: AsyncIterator) -> AsyncIterator:
        async for request in iterator:
            kind = request.WhichOneof("request")
            if kind == "config":
                self.rate = bytes_per_second(request.config)
                if request.config.session_id:
                    SESSION_ID.set(request.config.session_id)
            elif kind == "audio":
                self.received_bytes += len(request.audio)
                seconds = len(request.audio) / self.rate
                metrics.AUDIO_RECEIVED.inc(seconds)
                self.arrivals.append((self.received_bytes / self.rate, time.monotonic()))
            yield request

    def arrived_at(self, audio_seconds: float) -> float | None:
        """When the audio up to `audio_seconds` had been received."""
        for position, when in self.arrivals:
            if position >= audio_seconds - 1e-3:
                return when
        return None

    def response(self, response: asr_pb2.RecognizeResponse) -> None:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            started = response.session_started
            self.engine, self.model, self.started = started.engine, started.model, True
            SESSION_ID.set(started.session_id)
            metrics.STREAMS_ACTIVE.labels(self.engine, self.model).inc()
        elif kind == "result":
            result = response.result
            end = duration_seconds(result.end_offset)
            arrived = self.arrived_at(end)
            if result.is_final:
                metrics.AUDIO_DECODED.inc(max(0.0, end - duration_seconds(result.start_offset)))
            if arrived is not None:
                (metrics.FINAL_LATENCY if result.is_final else metrics.PARTIAL_LAG).observe(time.monotonic() - arrived)
            while len(self.arrivals) > 1 and self.arrivals[1][0] < end - 30.0:
                self.arrivals.popleft()  # results never go back more than an utterance

    def finished(self, code: grpc.StatusCode, trailing) -> None:
        if self.started:
            metrics.STREAMS_ACTIVE.labels(self.engine, self.model).dec()
        metrics.STREAMS.labels(self.engine, self.model, code.name).inc()
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and not self.started:
            metrics.ADMISSION_REFUSALS.labels(_error_reason(trailing) or "unknown").inc()


def _error_reason(trailing) -> str:
    for key, value in trailing or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason
    return ""


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts every Recognize call, refused ones included (it runs outside AuthInterceptor)."""

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method != RECOGNIZE:
            return handler
        inner = handler.stream_stream

        async def behavior(request_iterator, context: grpc.aio.ServicerContext):
            observer = _CallObserver()
            code = grpc.StatusCode.OK
            try:
                async for response in inner(observer.requests(request_iterator.__aiter__()), context):
                    observer.response(response)
                    yield response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.UNKNOWN
                raise
            finally:
                observer.finished(_status_code(code), context.trailing_metadata())

        return _wrap(handler, behavior)


def _status_code(code) -> grpc.StatusCode:
    if isinstance(code, grpc.StatusCode):
        return code
    for member in grpc.StatusCode:  # grpc.aio may report the numeric code
        if member.value[0] == code:
            return member
    return grpc.StatusCode.UNKNOWN
