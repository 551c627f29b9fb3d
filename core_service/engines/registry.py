"""Engine families by name and alias; each is imported and instantiated once, on first use."""
from __future__ import annotations

import importlib
import logging
import threading
from typing import Callable

from ..errors import new_error_id
from .base import Capabilities, Engine, EngineDescription, EngineUnavailable, InvalidSettings

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
    def __init__(self, default: str = "whisper", factories: dict[str, Callable[[], Engine]] | None = None):
        self._factories = factories or {}
        self._engines: dict[str, Engine] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self.default = self.canonical(default)

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
            self._engines[canonical] = engine
            return engine

    def first_available(self, preference: str) -> str:
        """'google,whisper' -> the first engine of the list that can serve now (else the last one,
        so its own error explains what is missing). A single name is returned unchanged."""
        names = [n.strip() for n in preference.split(",") if n.strip()]
        if len(names) <= 1:
            return preference.strip()
        for name in names:
            try:
                if self.get(name).describe().available:
                    return self.canonical(name)
            except EngineUnavailable:
                continue
        return names[-1]

    def describe_all(self) -> list[EngineDescription]:
        out = []
        for name, (_, aliases) in ENGINES.items():
            try:
                out.append(self.get(name).describe())
            except EngineUnavailable as exc:
                out.append(EngineDescription(name, aliases, Capabilities(False, False, False, False, False), (),
                                             "", False, exc.message))
        return out

    def loaded(self) -> list[Engine]:
        return list(self._engines.values())
