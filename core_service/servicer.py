"""The asr.v1 RecognizerService servicer: admission control, then one Session per call."""
from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from . import convert
from .admission import Admission, AdmissionPolicy, Load
from .config import ServerConfig
from .engines.registry import EngineRegistry
from .errors import ApiError
from .session import Session

log = logging.getLogger(__name__)


class RecognizerServicer(asr_pb2_grpc.RecognizerServiceServicer):
    def __init__(self, config: ServerConfig, registry: EngineRegistry):
        self.config = config
        self.registry = registry
        self.admission = Admission(
            AdmissionPolicy(max_sessions=config.max_sessions, final_share_budget=config.final_share_budget,
                            final_wait_budget=config.final_wait_budget),
            self._load)

    def _load(self) -> Load:
        loads = [e.load() for e in self.registry.loaded() if hasattr(e, "load")]
        return Load(max((l.final_share for l in loads), default=0.0), max((l.final_wait for l in loads), default=0.0))

    @property
    def active(self) -> int:
        return self.admission.active

    async def Recognize(self, request_iterator, context: grpc.aio.ServicerContext):
        try:
            ticket = self.admission.admit()
        except ApiError as err:
            log.warning("refused a stream: %s", err.message)
            # Take the config first: a status sent while the client's first write is in flight
            # can reach asyncio clients as INTERNAL (grpc/grpc#36066).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(anext(request_iterator.__aiter__()), 0.5)
            await context.abort_with_status(err.to_status())
        session = Session(self.config, self.registry)
        try:
            async for response in session.run(request_iterator.__aiter__()):
                yield response
        except ApiError as err:
            log.info("session %s failed: %s %s", session.id or "-", err.code.name, err.message)
            await context.abort_with_status(err.to_status())
        except Exception:
            log.exception("session %s crashed", session.id or "-")
            await context.abort_with_status(ApiError(
                grpc.StatusCode.INTERNAL, "internal error in the recognition session; see the server log",
                reason="INTERNAL").to_status())
        finally:
            self.admission.release(ticket)

    async def ListEngines(self, request, context):
        return asr_pb2.ListEnginesResponse(
            engines=[convert.engine_proto(d) for d in self.registry.describe_all()],
            default_engine=self.registry.default)
