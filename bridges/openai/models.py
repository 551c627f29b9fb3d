"""Model names: OpenAI's transcription models map to the core's default; ours pass through.

`whisper-1`, `gpt-4o-transcribe`, `gpt-4o-mini-transcribe` (and any of them with a
`-YYYY-MM-DD` suffix), and any other `gpt-*` or `whisper-*` name, name the core's default engine and model: the bridge sends no engine or
model, so the core picks one for the language (docs/bridges.md). `gpt-4o-transcribe-diarize` (dated
or not) also asks a Realtime session for speaker labels (`diarizes`). Any other name is ours:
`ENGINE/MODEL` (`whisper/base`, as `GET /v1/models` lists what the core's `ListEngines` reports, from the bridge's one
`EngineCatalog` (bridges/engine_catalog.py: fetched off the codec, never blocking the loop).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bridges.engine_catalog import ServedModel

OPENAI_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize",
                 "gpt-realtime-whisper")
OPENAI_PREFIXES = ("gpt-", "whisper-")  # OpenAI's realtime and future transcription models: the default too
DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
DIARIZING_MODEL = "gpt-4o-transcribe-diarize"
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


def diarizes(name: str) -> bool:
    """Whether an OpenAI `model` value names the diarizing model (with or without a date suffix)."""
    return DATE_SUFFIX.sub("", name.strip()) == DIARIZING_MODEL


def model_object(model_id: str, owner: str) -> dict:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}


def listed_models(served: list[ServedModel]) -> list[dict]:
    """Every model id clients may name: OpenAI's names, then the core's `engine/model`."""
    return ([model_object(name, "openai-compatible") for name in OPENAI_MODELS]
            + [model_object(m.name, m.engine) for m in served])


def find_model(served: list[ServedModel], model_id: str) -> dict | None:
    """The model object a client named (under the name it used); None when the core has no such model."""
    wanted = core_model(model_id)
    for item in listed_models(served):
        if item["id"] == model_id or (not wanted.engine and item["id"].endswith(f"/{wanted.model}")):
            return {**item, "id": model_id}
    return None
