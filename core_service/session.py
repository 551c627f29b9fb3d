"""One Recognize call: config first, then audio and control in, results out, summary last.

Backpressure: before reading each request the session checks that the stream holds less than
`max_backlog_seconds` of undecoded audio and fewer than `max_pending_responses` responses the
client has not read; otherwise it stops reading (gRPC flow control then slows the sender) until
there is room. Partials are dropped while responses pile up; finals never are.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import replace
from typing import AsyncIterator, Callable

import grpc
from asr.v1 import asr_pb2

from . import convert
from .audio import AudioDecoder, AudioFormatError
from .channels import PerChannelStream
from .config import ServerConfig
from .container_audio import ContainerDecoder, ContainerLimits
from .diarization import encoder as speaker_encoder
from .diarization.diarizer import SessionDiarizer
from .engines.base import EngineError, EngineStream, Result, SpeechBoundary
from .engines.registry import EngineRegistry
from .errors import ApiError, internal, invalid
from .pacing import ArrivalPacing, PacingPolicy

log = logging.getLogger(__name__)

_END = object()
ROOM_POLL_SECONDS = 0.02  # how often a throttled stream re-checks for room

SHUTTING_DOWN = "server shutting down, reconnect"


def shutting_down() -> ApiError:
    return ApiError(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN, reason="SHUTTING_DOWN", retry_after=1.0)


class ShuttingDown(Exception):
    """The server's grace period ended while waiting for a request."""


async def next_request(requests: AsyncIterator[asr_pb2.RecognizeRequest], timeout: float,
                       shutdown: asyncio.Event, timed_out: ApiError) -> asr_pb2.RecognizeRequest | None:
    """The next request, or None at the end of the request stream. Raises `timed_out` after
    `timeout` seconds and ShuttingDown when `shutdown` is set first."""
    read = asyncio.ensure_future(anext(requests))
    stop = asyncio.ensure_future(shutdown.wait())
    try:
        done, _ = await asyncio.wait({read, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not read.done():
            read.cancel()
            with contextlib.suppress(BaseException):
                await read
        elif not read.cancelled():
            read.exception()  # retrieved: the end of the stream may race the call's cancellation
    if read in done:
        try:
            return read.result()
        except StopAsyncIteration:
            return None
    if stop in done:
        raise ShuttingDown()
    raise timed_out


class Session:
    """Runs one call. `run` yields responses; if the call must fail, it first delivers the
    results of all audio already accepted, then raises ApiError."""

    def __init__(self, config: ServerConfig, registry: EngineRegistry, shutdown: asyncio.Event | None = None,
                 promote: Callable[[], ApiError | None] | None = None):
        """`promote` is set for a stream admitted provisionally while real-time capacity was full:
        it runs as an upload until, after --probation-seconds at real-time pace, `promote()`
        admits it as real-time (None) or returns the refusal to end it with."""
        self.config = config
        self.registry = registry
        self.id = ""
        self.error: ApiError | None = None
        self.finals: list[str] = []
        # Responses for the client. Bounded by flow control rather than maxsize (engines emit
        # synchronously): nothing more is read while it holds max_pending_responses, so it never
        # holds more than that plus the finals of the stream's backlog.
        self._queue: asyncio.Queue = asyncio.Queue()
        self._stream: EngineStream | None = None
        self._decoder: AudioDecoder | ContainerDecoder | None = None
        self._shutdown = shutdown or asyncio.Event()
        self.pacing = ArrivalPacing(PacingPolicy(config.pacing_window, config.realtime_factor))
        self.dropped_partials = 0
        self.peak_backlog = 0.0
        self.throttled_seconds = 0.0
        self._promote = promote
        self._pinned_upload = promote is not None  # provisional: an upload until promoted
        self._started = time.monotonic()
        self._diarizer: SessionDiarizer | None = None
        self._client_words = True  # the client asked for word times (diarization asks the engine for them anyway)

    @property
    def realtime(self) -> bool:
        return self._stream.realtime if self._stream is not None else True

    def _emit(self, event) -> None:
        if (isinstance(event, Result) and not event.is_final
                and self._queue.qsize() >= self.config.max_pending_responses):
            self.dropped_partials += 1  # the client is not reading: a newer partial will follow
            return
        self._queue.put_nowait(event)

    async def _next(self, requests: AsyncIterator[asr_pb2.RecognizeRequest]) -> asr_pb2.RecognizeRequest | None:
        return await next_request(requests, self.config.idle_timeout, self._shutdown, ApiError(
            grpc.StatusCode.DEADLINE_EXCEEDED, f"no request for {self.config.idle_timeout:.0f} s; the stream was "
            f"ended (send audio continuously or half-close when done)", reason="IDLE_TIMEOUT"))

    def _stalled(self) -> ApiError:
        return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"results of this stream were not read or decoded for "
                        f"{self.config.idle_timeout:.0f} s; the stream was ended", reason="STALLED")

    async def _wait_for_room(self) -> None:
        """Stop reading while the stream has too much undecoded audio or unread responses
        (each wait bounded by --idle-timeout; the end of the shutdown grace ends it too)."""
        started = time.monotonic()
        backlog = self._stream.backlog_seconds()
        self.peak_backlog = max(self.peak_backlog, backlog)
        if backlog >= self.config.max_backlog_seconds:
            room = asyncio.ensure_future(self._stream.wait_backlog_below(self.config.max_backlog_seconds))
            stop = asyncio.ensure_future(self._shutdown.wait())
            done, pending = await asyncio.wait({room, stop}, timeout=self.config.idle_timeout,
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if not done:
                raise self._stalled()
            if time.monotonic() - started > ROOM_POLL_SECONDS / 10:
                self.pacing.throttled()  # audio arrived faster than it was decoded: an upload
        deadline = started + self.config.idle_timeout
        while self._queue.qsize() >= self.config.max_pending_responses and not self._shutdown.is_set():
            if time.monotonic() > deadline:
                raise self._stalled()
            await asyncio.sleep(ROOM_POLL_SECONDS)  # the client is not reading its results
        self.throttled_seconds += time.monotonic() - started

    async def _open(self, first: asr_pb2.RecognizeRequest) -> asr_pb2.RecognizeResponse:
        if first.WhichOneof("request") != "config":
            raise invalid("the first message must be a config (got %s)" % (first.WhichOneof("request") or "an empty request"),
                          "config")
        settings, fmt = convert.settings_from_config(first.config, self.config)
        diarization = convert.diarization_settings(first.config)
        engine, settings = self.registry.resolve(settings)  # an EngineError is the call's ApiError
        self.id = settings.session_id = settings.session_id or uuid.uuid4().hex[:16]
        if diarization.enabled:
            self._diarizer = self._open_diarizer(diarization)
            self._client_words, settings.word_time_offsets = settings.word_time_offsets, True
        self._stream = await self._open_stream(engine, settings, fmt.channels)
        self._decoder = self._audio_decoder(fmt, settings.separate_channels)
        audio = (f"{fmt.encoding} (rate and channels from the stream)" if fmt.encoding in convert.COMPRESSED
                 else f"{fmt.encoding}/{fmt.sample_rate}Hz/{fmt.channels}ch")
        log.info("session %r started: engine=%s model=%s language=%s %s interim=%s", self.id, settings.engine,
                 settings.model, settings.language or "detect", audio, settings.interim_results)
        resolved = convert.resolved_config(settings, fmt)
        resolved.enable_word_time_offsets = self._client_words
        resolved.diarization.CopyFrom(convert.diarization_proto(diarization))
        return asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(
            session_id=self.id, resolved_config=resolved, engine=settings.engine, model=settings.model))

    def _open_diarizer(self, diarization) -> SessionDiarizer:
        unavailable = speaker_encoder.availability()
        if unavailable:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"diarization is not installed on this server: "
                           f"{unavailable}", reason="DIARIZATION_UNAVAILABLE", field_name="config.diarization")
        # it must still hold a final's audio when the final comes: the backlog, an utterance, margin
        keep = self.config.max_backlog_seconds + self.config.max_utterance + 30.0
        return SessionDiarizer(diarization, self.config.diarization_deadline, keep, label=self.id)

    def _audio_decoder(self, fmt: convert.AudioFormat, separate: bool) -> AudioDecoder | ContainerDecoder:
        if fmt.encoding in convert.COMPRESSED:  # compressed: decoded in a worker thread as the bytes arrive
            limits = ContainerLimits(self.config.max_undecoded_bytes, self.config.idle_timeout)
            return ContainerDecoder(fmt.encoding, limits, fmt.channels if separate and fmt.channels > 1 else 0,
                                    label=self.id)
        return AudioDecoder(fmt.encoding, fmt.sample_rate, fmt.channels, separate=separate)

    async def _open_stream(self, engine, settings, channels: int) -> EngineStream:
        """The engine's stream, or with per-channel recognition one per channel."""
        if not settings.separate_channels or channels < 2:
            return await engine.open_stream(settings, self._emit)
        streams = [await engine.open_stream(replace(settings, vad=replace(settings.vad)), emit)
                   for emit in PerChannelStream.tagging(self._emit, channels)]
        return PerChannelStream(streams)

    async def _handle(self, request: asr_pb2.RecognizeRequest) -> None:
        kind = request.WhichOneof("request")
        if kind == "audio":
            if len(request.audio) > self.config.max_audio_message_bytes:
                raise invalid(f"audio message of {len(request.audio)} bytes exceeds the "
                              f"{self.config.max_audio_message_bytes}-byte limit; send smaller chunks", "audio")
            try:
                await self._take(request.audio)
            except AudioFormatError as exc:
                raise invalid(str(exc), "audio") from exc
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

    async def _take(self, audio: bytes) -> None:
        """Decode one message and accept its audio: one piece for raw audio; compressed audio yields
        what the message completes, in pieces of at most container_audio.MAX_QUEUED_SECONDS, with
        room awaited between them. A message not taken whole stops the decoder: the rest of it is
        never decoded (not past a limit, nor after an error)."""
        try:
            first = True
            async for samples in self._decoder.pieces(audio):
                if not first:
                    await self._wait_for_room()
                first = False
                await self._accept(samples)
        except BaseException:
            self._decoder.close()
            raise

    async def _accept(self, samples) -> None:
        if self._decoder.seconds_in > self.config.max_stream_seconds:
            raise ApiError(grpc.StatusCode.OUT_OF_RANGE,
                           f"stream exceeded the {self.config.max_stream_seconds:.0f} s audio limit; "
                           f"start a new stream to continue", reason="STREAM_TOO_LONG")
        self.pacing.record(self._decoder.seconds_in)
        self._classify()
        if self._diarizer is not None:
            self._diarizer.feed(samples)
        await self._stream.accept(samples)

    def _classify(self) -> None:
        """Real-time or upload for the next decodes; settles a provisional admission."""
        realtime = self.pacing.realtime
        if self._promote is not None:
            if not realtime:
                self._promote = None  # measured as an upload: it stays one
            elif time.monotonic() - self._started >= self.config.probation_seconds:
                refusal, self._promote = self._promote(), None
                if refusal is not None:
                    log.info("session %r sends in real time and real-time capacity is full: ending it", self.id)
                    raise refusal
                self._pinned_upload = False
        self._stream.realtime = realtime and not self._pinned_upload

    def _stream_settings(self):
        return self._stream.settings

    async def _pump(self, requests) -> None:
        """Read requests until end of audio, shutdown or an error; always finish the accepted audio,
        and always queue the end marker, whatever fails."""
        try:
            try:
                while True:
                    await self._wait_for_room()
                    request = await self._next(requests)
                    if request is None:
                        break
                    await self._handle(request)
            except ShuttingDown:
                self.error = shutting_down()
            except ApiError as exc:  # an EngineError too
                self.error = exc
            except Exception:
                self.error = internal(log, "session %r failed reading requests", self.id)
            try:
                try:
                    async for tail in self._decoder.finish():  # compressed: the rest of the stream
                        if tail.size:
                            if self._diarizer is not None:
                                self._diarizer.feed(tail)
                            await self._stream.accept(tail)
                except AudioFormatError as exc:
                    self.error = self.error or invalid(str(exc), "audio")
                await self._stream.finish()
            except EngineError as exc:
                self.error = self.error or exc
            except Exception:
                self.error = self.error or internal(log, "session %r failed finishing its audio", self.id)
        finally:
            self._queue.put_nowait(_END)

    async def run(self, first: asr_pb2.RecognizeRequest,
                  requests: AsyncIterator[asr_pb2.RecognizeRequest]) -> AsyncIterator[asr_pb2.RecognizeResponse]:
        """`first` is the request the servicer already read (it must be the config)."""
        started = time.monotonic()
        pump: asyncio.Task | None = None
        engine_failed = False
        try:
            yield await self._open(first)  # closed here if the client cancels as SessionStarted goes out
            pump = asyncio.create_task(self._pump(requests))
            while (event := await self._queue.get()) is not _END:
                if isinstance(event, Result):
                    if event.is_final and event.text:
                        self.finals.append(event.text.strip())
                    if self._diarizer is not None:
                        await self._diarizer.label(event)
                        if not self._client_words:
                            event.words = []
                    yield convert.result_proto(event)
                elif isinstance(event, SpeechBoundary):
                    yield convert.boundary_proto(event)
                elif isinstance(event, EngineError):
                    log.warning("session %r: engine failed: %s", self.id, event.message)
                    self.error = self.error or event
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
                transcript=" ".join(t for t in self.finals if t),
                speakers=convert.speakers_proto(self._diarizer.talk_times()) if self._diarizer else []))
            log.info("session %r ended: %.1f s audio, %d finals, %.1f s wall, %s; %s, peak backlog %.1f s, "
                     "throttled %.1f s, %d partials dropped", self.id, audio, len(self.finals),
                     time.monotonic() - started, self.error.code.name if self.error else "OK",
                     "real-time" if self.realtime else "upload", self.peak_backlog, self.throttled_seconds,
                     self.dropped_partials)
            if self.error is not None:
                raise self.error
        except (asyncio.CancelledError, GeneratorExit):  # the client cancelled the call or went away
            log.info("session %r cancelled by the client: %.1f s audio, %d finals, %.1f s wall",
                     self.id, self._decoder.seconds_in, len(self.finals), time.monotonic() - started)
            raise
        finally:
            if pump is not None and not pump.done():
                pump.cancel()
            if self._decoder is not None:
                self._decoder.close()
            if self._stream is not None:
                await self._stream.close()
