"""Engine families by name and alias; each is imported and instantiated once, on first use.

`EngineRegistry.resolve` is the one place that turns what a client asked for into the engine
and settings a session runs with: bridges and clients pass the client's own engine, model,
language and task (or nothing), and the core alone picks engine, model and defaults.
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import replace
from typing import Callable

from asr_common.redact import new_error_id

from .base import (Capabilities, Engine, EngineDescription, EngineError, EngineUnavailable, InvalidSettings,
                   SessionSettings)

log = logging.getLogger(__name__)

# name -> (module:class, aliases). Modules are imported lazily: a missing optional extra
# (torch, funasr, google-cloud-speech) makes that engine unavailable, never the server.
ENGINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "whisper": ("core_service.engines.whisper:WhisperEngine", ("faster-whisper", "faster_whisper")),
    "google": ("core_service.engines.google:GoogleEngine", ("google-cloud-speech", "gcp")),
    "funasr": ("core_service.engines.funasr:FunASREngine", ("paraformer", "paraformer-online")),
    "speechbrain": ("core_service.engines.speechbrain:SpeechBrainEngine", ("rnnt", "conformer-rnnt")),
}


class EngineRegistry:
    """`default` is the core's --engine, `default_model` its --model: the model of the default
    engine's sessions that name none (empty: the engine's own default)."""

    def __init__(self, default: str = "whisper", factories: dict[str, Callable[[], Engine]] | None = None,
                 default_model: str = ""):
        self._factories = factories or {}
        self._engines: dict[str, Engine] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self.default = self.canonical(default)
        self.default_model = default_model

    def canonical(self, name: str) -> str:
        key = name.strip().lower()
        for canonical, (_, aliases) in ENGINES.items():
            if key == canonical or key in aliases:
                return canonical
        raise InvalidSettings(f"unknown engine {name!r}; choose one of {sorted(ENGINES)} "
                              f"(aliases: {sorted(a for _, al in ENGINES.values() for a in al)})",
                              field_name="config.engine")

    def get(self, name: str = "") -> Engine:
        canonical = self.canonical(name) if name else self.default
        with self._lock:
            engine = self._engines.get(canonical)
            if engine is not None:
                return engine
            if canonical in self._errors:
                raise EngineUnavailable(self._errors[canonical])
            try:
                if canonical in self._factories:
                    engine = self._factories[canonical]()
                else:
                    module_name, cls_name = ENGINES[canonical][0].split(":")
                    engine = getattr(importlib.import_module(module_name), cls_name)()
            except Exception as exc:  # a broken optional engine must not take the server down
                error_id = new_error_id()
                log.warning("error %s: engine %s cannot be loaded", error_id, canonical, exc_info=True)
                missing = f"Python module {exc.name!r} is missing" if isinstance(exc, ImportError) and exc.name \
                    else "its Python package or a dependency is broken"
                self._errors[canonical] = (f"engine {canonical} cannot be loaded: {missing} (error id {error_id}; "
                                           f"install the engine's extra, e.g. pip install '.[{canonical}]')")
                raise EngineUnavailable(self._errors[canonical]) from exc
            if canonical == self.default and self.default_model:
                engine.use_default_model(self.default_model)  # InvalidSettings: a bad --model
            self._engines[canonical] = engine
            return engine

    def choose(self, preference: str) -> str:
        """The canonical name of the engine a session asks for: '' -> the default engine; a name
        or alias -> that engine; 'google,whisper' -> the first engine of the list that can serve
        now (else the last one, so that its own error explains what is missing)."""
        names = [n.strip() for n in preference.split(",") if n.strip()]
        if not names:
            return self.default
        for name in names[:-1]:
            try:
                if self.get(name).describe().available:
                    return self.canonical(name)
            except EngineUnavailable:
                continue
        return self.canonical(names[-1])

    def resolve(self, settings: SessionSettings) -> tuple[Engine, SessionSettings]:
        """What the client asked for -> the engine and the settings actually used.

        `settings.engine` is a name, an alias, a comma preference list or empty (see `choose`);
        `settings.model` a model name or alias, or empty: the engine picks its default (the
        core's --model for the default engine), or the model the language and task need (Whisper:
        `base` for a non-English language or for translation). The engine checks language, task
        and the rest (`Engine.resolve`). Raises InvalidSettings or EngineUnavailable.
        """
        name = self.choose(settings.engine)
        engine = self.get(name)
        return engine, engine.resolve(replace(settings, engine=name))

    def describe_all(self) -> list[EngineDescription]:
        out = []
        for name, (_, aliases) in ENGINES.items():
            try:
                out.append(self.get(name).describe())
            except EngineError as exc:
                out.append(EngineDescription(name, aliases, Capabilities(False, False, False, False, False), (),
                                             "", False, exc.message))
        return out

    def loaded(self) -> list[Engine]:
        return list(self._engines.values())
