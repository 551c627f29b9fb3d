"""The asr.v1 RecognizerService servicer: admission control, then one Session per call."""
from __future__ import annotations

import logging

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from . import convert
from .config import ServerConfig
from .engines.registry import EngineRegistry
from .errors import ApiError
from .session import Session

log = logging.getLogger(__name__)


class RecognizerServicer(asr_pb2_grpc.RecognizerServiceServicer):
    def __init__(self, config: ServerConfig, registry: EngineRegistry):
        self.config = config
        self.registry = registry
        self.active = 0

    def _retry_estimate(self) -> float:
        # Sessions are long-lived; a slot frees when one ends. Without history, a few seconds.
        return 5.0

    async def Recognize(self, request_iterator, context: grpc.aio.ServicerContext):
        if self.active >= self.config.max_sessions:
            err = ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"server is at its limit of {self.config.max_sessions} concurrent streams; retry later",
                           reason="TOO_MANY_SESSIONS", retry_after=self._retry_estimate(),
                           metadata={"max_sessions": str(self.config.max_sessions)})
            await context.abort_with_status(err.to_status())
        self.active += 1
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
            self.active -= 1

    async def ListEngines(self, request, context):
        return asr_pb2.ListEnginesResponse(
            engines=[convert.engine_proto(d) for d in self.registry.describe_all()],
            default_engine=self.registry.default)
