"""What an engine and its models can do, in exactly the terms ListEngines sends.

The core's engines describe themselves with these (core_service/engines/base.py); the SDK reads
ListEngines into them (clients/types.py `engines_from_proto`). Plain dataclasses, no dependency.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    native_streaming: bool
    interim_results: bool
    word_time_offsets: bool
    translate: bool
    language_detection: bool
    languages: tuple[str, ...] = ()
    prompt: bool = False  # StreamingConfig.prompt is used
    hotwords: bool = False  # StreamingConfig.hotwords are used
    diarization: bool = False  # StreamingConfig.diarization is served (by the core, for every engine)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    aliases: tuple[str, ...] = ()
    available: bool = True
    unavailable_reason: str = ""
    multilingual: bool = False
    source: str = ""
