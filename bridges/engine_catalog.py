"""What the core serves, as bridges list it (Wyoming's `info`, OpenAI's `GET /v1/models`).

One catalog per bridge (`DialectSpec.make_state`), answered from the core's `ListEngines`. A
codec cannot wait, so the list is fetched by a task of its own on the bridge's channel
(`BridgeContext.pool`: the core's TLS, keys and load balancing), at most once per
`CACHE_SECONDS`. A codec that needs it starts a `ListingWait`, polls it from its idle timer
(`Codec.idle_timeout`/`idle`) and answers with what is known after `WAIT_SECONDS` at most, so a
slow or absent core never stalls the bridge's event loop.
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

log = logging.getLogger("bridges.catalog")

CACHE_SECONDS = 10.0  # a listing younger than this is answered at once
LIST_DEADLINE_SECONDS = 2.0  # the ListEngines call's deadline
WAIT_SECONDS = 0.8  # how long a request waits for a listing under way (Home Assistant waits 1 s for info, then retries)
POLL_SECONDS = 0.05  # how often a waiting request looks again


@dataclass(frozen=True)
class ServedModel:
    """One model of one engine the core serves: `engine/model` is its listed name."""

    engine: str
    model: str
    languages: tuple[str, ...]
    multilingual: bool

    @property
    def name(self) -> str:
        return f"{self.engine}/{self.model}"

    def spoken(self) -> list[str]:
        """The languages the model speaks: an English-only model (`tiny.en`) speaks `en`."""
        if not self.multilingual and self.model.endswith(".en"):
            return ["en"]
        return list(self.languages)


def models_of(reply: asr_pb2.ListEnginesResponse) -> list[ServedModel]:
    """Every available model of every available engine, with the engine's languages."""
    return [ServedModel(engine.name, model.name, tuple(engine.capabilities.languages), model.multilingual)
            for engine in reply.engines if engine.available
            for model in engine.models if model.available]


@dataclass
class EngineCatalog:
    pool: CorePool | None
    fetched: float = float("-inf")
    models: list[ServedModel] = field(default_factory=list)
    _task: asyncio.Task | None = None

    def fresh(self) -> bool:
        return time.monotonic() - self.fetched < CACHE_SECONDS

    def known(self) -> bool:
        """The core has answered at least once."""
        return self.fetched > float("-inf")

    def refresh(self) -> None:
        """Start a ListEngines call unless the listing is fresh or one is under way."""
        if self.pool is None or self.fresh() or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._fetch(), name="list-engines")

    def ready(self) -> bool:
        """The listing is fresh, or no call is under way (the last one failed: answer with what is known)."""
        return self.fresh() or self._task is None or self._task.done()

    async def _fetch(self) -> None:
        assert self.pool is not None
        try:
            reply = await self.pool.stub().ListEngines(asr_pb2.ListEnginesRequest(), timeout=LIST_DEADLINE_SECONDS,
                                                       metadata=core_metadata())
        except grpc.aio.AioRpcError as error:
            log.warning("ListEngines failed (%s); the models known before are listed", error.code().name)
            return
        self.models = models_of(reply)
        self.fetched = time.monotonic()


@dataclass
class ListingWait:
    """A request waiting for the catalog, polled from its codec's idle timer."""

    catalog: EngineCatalog
    waited: float = 0.0
    active: bool = False

    def start(self) -> bool:
        """Ask for a fresh listing; True when it can be answered now."""
        self.catalog.refresh()
        self.active = not self.catalog.ready()
        self.waited = POLL_SECONDS / 2 if self.active else 0.0
        return not self.active

    def timeout(self) -> float | None:
        """The codec's idle timeout while a request waits."""
        return POLL_SECONDS if self.active else None

    def poll(self) -> bool:
        """One idle tick; True when the waiting request is to be answered now (with what is known)."""
        if not self.active:
            return False
        self.waited += POLL_SECONDS
        if self.catalog.ready() or self.waited >= WAIT_SECONDS:
            self.active = False
            return True
        return False
