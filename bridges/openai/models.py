"""Model names: OpenAI's transcription models map to the core's default; ours pass through.

`whisper-1`, `gpt-4o-transcribe`, `gpt-4o-mini-transcribe` (and any of them with a
`-YYYY-MM-DD` suffix), and any other `gpt-*` or `whisper-*` name, name the core's default engine and model: the bridge sends no engine or
model, so the core picks one for the language (docs/bridges.md). Any other name is ours:
`ENGINE/MODEL` (`whisper/base`, as `GET /v1/models` lists them) or a bare model name or alias
(`base`, `tiny.en`), passed as `StreamingConfig.model`; the core refuses unknown ones.

`GET /v1/models` lists what the core's `ListEngines` reports. The codec cannot wait, so the
list is read with a blocking call of at most `LIST_DEADLINE_SECONDS` on the bridge's loop, at
most once per `CACHE_SECONDS`.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import time
from dataclasses import dataclass, field

import grpc

from asr.v1 import asr_pb2, asr_pb2_grpc
from bridges.auth import core_metadata
from bridges.core_client import DEFAULT_CORE
from clients.targets import parse_target

log = logging.getLogger("bridges.openai")

OPENAI_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize",
                 "gpt-realtime-whisper")
OPENAI_PREFIXES = ("gpt-", "whisper-")  # OpenAI's realtime and future transcription models: the default too
DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
LIST_DEADLINE_SECONDS = 1.0
CACHE_SECONDS = 10.0
CREATED = 1700000000  # `created` of every listed model (the core has no such date)


@dataclass(frozen=True)
class CoreModel:
    engine: str  # "" = the bridge's --engine or the core's default
    model: str  # "" = the engine's model for the language


def core_model(name: str) -> CoreModel:
    """The core's engine and model for an OpenAI `model` value."""
    base = DATE_SUFFIX.sub("", name.strip())
    if base in OPENAI_MODELS or base.startswith(OPENAI_PREFIXES) or base in ("", "default"):
        return CoreModel("", "")
    engine, _, model = base.rpartition("/")
    return CoreModel(engine, model)


def model_object(model_id: str, owner: str) -> dict:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}


@dataclass
class ModelCatalog:
    """The models the core serves, as OpenAI model objects (per bridge: DialectSpec.make_state)."""

    target: str
    fetched: float = float("-inf")
    engines: list[asr_pb2.EngineInfo] = field(default_factory=list)

    @classmethod
    def of(cls, options: argparse.Namespace) -> "ModelCatalog":
        return cls(parse_target(options.core or os.environ.get("ASR_CORE") or DEFAULT_CORE))

    def models(self) -> list[dict] | None:
        """Every model id clients may name; None when the core cannot be asked."""
        if time.monotonic() - self.fetched > CACHE_SECONDS and not self._refresh():
            return None
        listed = [model_object(name, "openai-compatible") for name in OPENAI_MODELS]
        for engine in self.engines:
            if engine.available:
                listed += [model_object(f"{engine.name}/{m.name}", engine.name) for m in engine.models if m.available]
        return listed

    def find(self, model_id: str) -> dict | None | bool:
        """The model object; False when the core cannot be asked; None when it has no such model."""
        listed = self.models()
        if listed is None:
            return False
        wanted = core_model(model_id)
        for item in listed:
            if item["id"] == model_id or (not wanted.engine and item["id"].endswith(f"/{wanted.model}")):
                return {**item, "id": model_id}
        return None

    def _refresh(self) -> bool:
        try:
            with grpc.insecure_channel(self.target) as channel:
                reply = asr_pb2_grpc.RecognizerServiceStub(channel).ListEngines(
                    asr_pb2.ListEnginesRequest(), timeout=LIST_DEADLINE_SECONDS, metadata=core_metadata())
        except grpc.RpcError as error:
            log.warning("ListEngines failed: %s", error.code() if hasattr(error, "code") else error)
            return False
        self.engines = list(reply.engines)
        self.fetched = time.monotonic()
        return True
