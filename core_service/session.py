"""One Recognize call: config first, then audio and control in, results out, summary last."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import replace
from typing import AsyncIterator

import grpc
from asr.v1 import asr_pb2

from . import convert
from .audio import AudioDecoder, AudioFormatError
from .channels import PerChannelStream
from .config import ServerConfig
from .engines.base import EngineError, EngineStream, Result, SpeechBoundary
from .engines.registry import EngineRegistry
from .errors import ApiError, invalid

log = logging.getLogger(__name__)

_END = object()


def api_error(exc: EngineError) -> ApiError:
    return ApiError(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL), exc.message,
                    reason=exc.reason, field_name=exc.field_name, retry_after=exc.retry_after)


class Session:
    """Runs one call. `run` yields responses; if the call must fail, it first delivers the
    results of all audio already accepted, then raises ApiError."""

    def __init__(self, config: ServerConfig, registry: EngineRegistry):
        self.config = config
        self.registry = registry
        self.id = ""
        self.error: ApiError | None = None
        self.finals: list[str] = []
        self._queue: asyncio.Queue = asyncio.Queue()
        self._stream: EngineStream | None = None
        self._decoder: AudioDecoder | None = None

    async def _next(self, requests: AsyncIterator[asr_pb2.RecognizeRequest]) -> asr_pb2.RecognizeRequest | None:
        try:
            return await asyncio.wait_for(anext(requests), self.config.idle_timeout)
        except StopAsyncIteration:
            return None
        except asyncio.TimeoutError:
            raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED,
                           f"no request for {self.config.idle_timeout:.0f} s; the stream was ended "
                           f"(send audio continuously or half-close when done)", reason="IDLE_TIMEOUT")

    async def _open(self, requests) -> asr_pb2.RecognizeResponse:
        first = await self._next(requests)
        if first is None:
            raise invalid("the stream ended before its config; send a config message first", "config")
        if first.WhichOneof("request") != "config":
            raise invalid("the first message must be a config (got %s)" % (first.WhichOneof("request") or "an empty request"),
                          "config")
        settings, fmt = convert.settings_from_config(first.config, self.config)
        try:
            settings.engine = self.registry.first_available(settings.engine)
            engine = self.registry.get(settings.engine)
            settings.engine = self.registry.canonical(settings.engine) if settings.engine else self.registry.default
            if not settings.engine and not settings.model and self.config.model:
                settings.model = self.config.model
            settings = engine.resolve(settings)
            self.id = settings.session_id = settings.session_id or uuid.uuid4().hex[:16]
            self._stream = await self._open_stream(engine, settings, fmt.channels)
        except EngineError as exc:
            raise api_error(exc) from exc
        self._decoder = AudioDecoder(fmt.encoding, fmt.sample_rate, fmt.channels,
                                     separate=settings.separate_channels)
        log.info("session %s started: engine=%s model=%s language=%s %s/%dHz/%dch interim=%s",
                 self.id, settings.engine, settings.model, settings.language or "detect", fmt.encoding,
                 fmt.sample_rate, fmt.channels, settings.interim_results)
        return asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(
            session_id=self.id, resolved_config=convert.resolved_config(settings, fmt),
            engine=settings.engine, model=settings.model))

    async def _open_stream(self, engine, settings, channels: int) -> EngineStream:
        """The engine's stream, or with per-channel recognition one per channel."""
        if not settings.separate_channels or channels < 2:
            return await engine.open_stream(settings, self._queue.put_nowait)
        streams = [await engine.open_stream(replace(settings, vad=replace(settings.vad)), emit)
                   for emit in PerChannelStream.tagging(self._queue.put_nowait, channels)]
        return PerChannelStream(streams)

    async def _handle(self, request: asr_pb2.RecognizeRequest) -> None:
        kind = request.WhichOneof("request")
        if kind == "audio":
            if len(request.audio) > self.config.max_audio_message_bytes:
                raise invalid(f"audio message of {len(request.audio)} bytes exceeds the "
                              f"{self.config.max_audio_message_bytes}-byte limit; send smaller chunks", "audio")
            try:
                samples = self._decoder.decode(request.audio)
            except AudioFormatError as exc:
                raise invalid(str(exc), "audio") from exc
            if self._decoder.seconds_in > self.config.max_stream_seconds:
                raise ApiError(grpc.StatusCode.OUT_OF_RANGE,
                               f"stream exceeded the {self.config.max_stream_seconds:.0f} s audio limit; "
                               f"start a new stream to continue", reason="STREAM_TOO_LONG")
            await self._stream.accept(samples)
        elif kind == "control":
            action = request.control.WhichOneof("action")
            if action == "finalize":
                await self._stream.finalize()
            elif action == "update_settings":
                upd = request.control.update_settings
                settings = self._stream_settings()
                vad = convert.vad_settings(upd.vad, settings.vad) if upd.HasField("vad") else None
                interval = convert.partial_interval(upd.partial_interval, "control.update_settings.partial_interval")
                await self._stream.update(vad, interval)
                now = self._stream_settings()
                self._queue.put_nowait(asr_pb2.RecognizeResponse(settings_updated=asr_pb2.SettingsUpdated(
                    vad=convert.vad_proto(vad or now.vad),
                    partial_interval=convert.duration(interval or now.partial_interval))))
            else:
                raise invalid("control message has no action; set finalize or update_settings", "control")
        elif kind == "config":
            raise invalid("config may be sent only once, as the first message", "config")
        else:
            raise invalid("empty request; set config, audio or control", "request")

    def _stream_settings(self):
        return self._stream.settings

    async def _pump(self, requests) -> None:
        """Read requests until end of audio or an error; always finish the accepted audio."""
        try:
            while (request := await self._next(requests)) is not None:
                await self._handle(request)
            tail = self._decoder.flush()
            if tail.size:
                await self._stream.accept(tail)
        except ApiError as exc:
            self.error = exc
        except EngineError as exc:
            self.error = api_error(exc)
        except grpc.RpcError:
            raise
        try:
            await self._stream.finish()
        except EngineError as exc:
            self.error = self.error or api_error(exc)
        finally:
            self._queue.put_nowait(_END)

    async def run(self, requests: AsyncIterator[asr_pb2.RecognizeRequest]) -> AsyncIterator[asr_pb2.RecognizeResponse]:
        started = time.monotonic()
        yield await self._open(requests)
        pump = asyncio.create_task(self._pump(requests))
        engine_failed = False
        try:
            while (event := await self._queue.get()) is not _END:
                if isinstance(event, Result):
                    if event.is_final and event.text:
                        self.finals.append(event.text.strip())
                    yield convert.result_proto(event)
                elif isinstance(event, SpeechBoundary):
                    yield convert.boundary_proto(event)
                elif isinstance(event, EngineError):
                    log.warning("session %s: engine failed: %s", self.id, event.message)
                    self.error = self.error or api_error(event)
                    engine_failed = True
                    pump.cancel()
                    break
                else:
                    yield event
            if engine_failed:
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            else:
                await pump  # re-raise a crash of the reader
            audio = self._decoder.seconds_in
            yield asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(
                audio_processed=convert.duration(audio), segment_count=len(self.finals),
                transcript=" ".join(t for t in self.finals if t)))
            log.info("session %s ended: %.1f s audio, %d finals, %.1f s wall, %s", self.id, audio,
                     len(self.finals), time.monotonic() - started, self.error.code.name if self.error else "OK")
            if self.error is not None:
                raise self.error
        finally:
            if not pump.done():
                pump.cancel()
            if self._stream is not None:
                await self._stream.close()
