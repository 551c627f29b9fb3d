"""What the core serves, for Wyoming's `info` (one per bridge: `DialectSpec.make_state`).

`describe` is answered from the core's `ListEngines`. A codec cannot wait, so the list is
fetched by a task of its own on the bridge's channel (`BridgeContext.pool`), at most once per
`CACHE_SECONDS`; the codec that asked polls `ready()` on a short timer (bridges/wyoming/codec.py)
and answers with what is known after `WAIT_SECONDS` at most.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import grpc

from asr.v1 import asr_pb2
from bridges.auth import core_metadata
from bridges.core_client import CorePool

log = logging.getLogger("bridges.wyoming")

CACHE_SECONDS = 10.0  # a listing younger than this is answered at once
LIST_DEADLINE_SECONDS = 2.0  # the ListEngines call's deadline
WAIT_SECONDS = 0.8  # how long a `describe` waits for a listing under way (Home Assistant waits 1 s for info, then retries)


@dataclass(frozen=True)
class CoreModel:
    """One model `info` lists: `engine/model` is its Wyoming name."""

    engine: str
    model: str
    languages: tuple[str, ...]
    multilingual: bool

    @property
    def name(self) -> str:
        return f"{self.engine}/{self.model}"

    def spoken(self) -> list[str]:
        """The languages `info` lists: an English-only model (`tiny.en`) lists `en`."""
        if not self.multilingual and self.model.endswith(".en"):
            return ["en"]
        return list(self.languages)


@dataclass
class EngineCatalog:
    pool: CorePool | None
    fetched: float = float("-inf")
    models: list[CoreModel] = field(default_factory=list)
    _task: asyncio.Task | None = None

    def fresh(self) -> bool:
        return time.monotonic() - self.fetched < CACHE_SECONDS

    def refresh(self) -> None:
        """Start a ListEngines call unless the listing is fresh or one is under way."""
        if self.pool is None or self.fresh() or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._fetch(), name="wyoming-list-engines")

    def ready(self) -> bool:
        """The listing is fresh, or no call is under way (the last one failed: answer with what is known)."""
        return self.fresh() or self._task is None or self._task.done()

    async def _fetch(self) -> None:
        assert self.pool is not None
        try:
            reply = await self.pool.stub().ListEngines(asr_pb2.ListEnginesRequest(), timeout=LIST_DEADLINE_SECONDS,
                                                       metadata=core_metadata())
        except grpc.aio.AioRpcError as error:
            log.warning("ListEngines failed (%s); info lists the models known before", error.code().name)
            return
        self.models = models_of(reply)
        self.fetched = time.monotonic()


def models_of(reply: asr_pb2.ListEnginesResponse) -> list[CoreModel]:
    """Every available model of every available engine, with the engine's languages."""
    return [CoreModel(engine.name, model.name, tuple(engine.capabilities.languages), model.multilingual)
            for engine in reply.engines if engine.available
            for model in engine.models if model.available]
