"""The asr.v1 RecognizerService servicer: admission control, then one Session per call."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from . import convert
from .admission import Admission, AdmissionPolicy, Load
from .config import ServerConfig
from .diarization.encoder import availability as diarization_unavailable
from .engines.registry import EngineRegistry
from .errors import ApiError, internal, invalid
from .session import Session, ShuttingDown, next_request, shutting_down

log = logging.getLogger(__name__)


class RecognizerServicer(asr_pb2_grpc.RecognizerServiceServicer):
    def __init__(self, config: ServerConfig, registry: EngineRegistry):
        self.config = config
        self.registry = registry
        self.admission = Admission(
            AdmissionPolicy(max_sessions=config.max_sessions, final_share_budget=config.final_share_budget,
                            final_wait_budget=config.final_wait_budget),
            self._load)
        self.draining = False
        self.shutdown = asyncio.Event()  # set when the shutdown grace ends
        # Called when admission admitted or refused a stream or a stream ended: the health reporter re-reads
        # admission at once (core_service/health_state.py).
        self.on_admission_change: Callable[[], None] = lambda: None

    def _load(self) -> Load:
        loads = [e.load() for e in self.registry.loaded()]
        return Load(max((l.final_share for l in loads), default=0.0), max((l.final_wait for l in loads), default=0.0))

    @property
    def active(self) -> int:
        return self.admission.active

    def begin_drain(self) -> None:
        """Shutdown started: refuse new streams with UNAVAILABLE; open streams run on."""
        self.draining = True

    def end_grace(self) -> None:
        """The grace period is over: every open stream stops reading, finishes the audio it
        accepted, delivers its finals and summary, and ends with UNAVAILABLE."""
        self.draining = True
        self.shutdown.set()

    async def _config(self, requests) -> asr_pb2.RecognizeRequest | None:
        """The first request, read before the stream takes a slot; within --config-timeout."""
        try:
            return await next_request(requests, self.config.config_timeout, self.shutdown, ApiError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no config within {self.config.config_timeout:g} s; send the "
                f"config as the first message right after opening the stream", reason="CONFIG_TIMEOUT"))
        except ShuttingDown:
            raise shutting_down() from None

    async def Recognize(self, request_iterator, context: grpc.aio.ServicerContext):
        requests = request_iterator.__aiter__()
        try:
            # Take the config even from a stream about to be refused: a status sent while the
            # client's first write is in flight can reach asyncio clients as INTERNAL (grpc/grpc#36066).
            first = await self._config(requests)
            if first is None:
                raise invalid("the stream ended before its config; send a config message first", "config")
        except ApiError as err:
            log.info("stream ended before its config: %s", err.message)
            await context.abort_with_status(err.to_status())
        if self.draining:
            await context.abort_with_status(shutting_down().to_status())
        try:
            ticket, refusal = self.admission.admit_provisionally()
        except ApiError as err:
            log.warning("refused a stream: %s", err.message)
            self.on_admission_change()
            await context.abort_with_status(err.to_status())
        promote = None
        if refusal is not None:
            log.info("real-time capacity is full: a new stream starts as an upload (%s)", refusal.message)
            promote = lambda: self.admission.promote(ticket)  # noqa: E731
        self.on_admission_change()  # this stream may have filled the core: health says so at once
        session = Session(self.config, self.registry, self.shutdown, promote)
        responses = session.run(first, requests)
        try:
            async for response in responses:
                self.admission.classify(ticket, session.realtime)
                yield response
        except ApiError as err:
            log.info("session %r failed: %s %s", session.id or "-", err.code.name, err.message)
            await context.abort_with_status(err.to_status())
        except Exception:
            await context.abort_with_status(internal(log, "session %r crashed", session.id or "-").to_status())
        finally:
            try:
                # A call cancelled while gRPC sends a response closes this generator at its yield,
                # which leaves the session's suspended at its own: close it too, so that its reader
                # and engine stream end (and it logs the cancel) with the call, not at garbage
                # collection. A no-op when the session ended by itself.
                await responses.aclose()
            finally:
                self.admission.release(ticket)
                self.on_admission_change()

    async def ListEngines(self, request, context):
        engines = [convert.engine_proto(d) for d in self.registry.describe_all()]
        if not diarization_unavailable():  # the core labels speakers for every engine
            for engine in engines:
                engine.capabilities.diarization = True
        return asr_pb2.ListEnginesResponse(
            engines=engines,
            default_engine=self.registry.default, audio_encodings=convert.audio_encodings())
