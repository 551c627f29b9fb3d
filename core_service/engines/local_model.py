"""The base of engines that run one local streaming model (FunASR, SpeechBrain).

Such an engine loads its model once, from a directory named by `ASR_<ENGINE>_MODEL_DIR` (never
downloaded), shares it by every session, and runs each session's decoding on its own thread pool
of `ASR_<ENGINE>_WORKERS` threads. What the subclasses share lives here: options from the
environment, the reason the engine cannot serve (phrased as what to do), describe, resolve, load
(once, with a clear error naming the variable to fix), warm-up and close. A subclass names its
model, files and loader in a `LocalModelSpec`; its `open_stream` decodes with the model
`loaded_model()` returns, on the engine's executor.
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from asr_common.redact import new_error_id

from .base import (Capabilities, Engine, EngineDescription, EngineUnavailable, InvalidSettings, ModelDescription,
                   SessionSettings, primary_language)
from .env_options import EnvOptions

log = logging.getLogger(__name__)


@dataclass
class LocalModelOptions(EnvOptions):
    model_dir: str = ""  # the model directory (required; no download)
    workers: int = 2  # sessions decoding at the same time
    max_segment_seconds: float = 30.0  # force a final after this much continuous speech


@dataclass(frozen=True)
class LocalModelSpec:
    """What a local streaming model engine runs, and what it says when it cannot."""

    title: str  # the engine in messages: "FunASR"
    options: type[LocalModelOptions]  # read from ASR_<ENGINE>_* variables
    load: Callable[[Any], Any]  # options -> the shared model (on an executor thread); EngineUnavailable
    # for files that are wrong (say what), any other error is reported as a failed load
    model: str  # the model's name in ListEngines and SessionStarted
    model_aliases: tuple[str, ...]
    directory: str  # what ASR_<ENGINE>_MODEL_DIR must name: "a paraformer-zh-streaming model directory"
    packages: tuple[str, ...]  # Python modules the engine needs (installed by the extra named as the engine)
    required_files: tuple[str, ...]  # files the directory must hold
    multilingual: bool = False


class LocalModelEngine(Engine):
    """One local streaming model, loaded once and shared; see the module docstring."""

    spec: ClassVar[LocalModelSpec]

    def __init__(self, **overrides: Any):
        self.opts = self.spec.options.from_env(**overrides)
        self._model: Any = None
        self._load_error = ""  # why the weights were refused, once a load has failed
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max(1, self.opts.workers), thread_name_prefix=self.name)

    # ---- what a subclass may change -------------------------------------------------------
    def languages(self) -> tuple[str, ...]:
        """The languages the model recognizes, the default first."""
        return ("en",)

    def language_hint(self) -> str:
        """What to do about a language the model does not recognize."""
        return "leave language empty"

    # ---- availability ---------------------------------------------------------------------
    @property
    def model_dir_variable(self) -> str:
        return self.spec.options.variable("model_dir")

    def missing_reason(self) -> str:
        """Why the engine cannot serve (empty when it can), phrased as what to do. Cheap."""
        spec = self.spec
        if any(importlib.util.find_spec(p) is None for p in spec.packages):
            return f"{spec.title} is not installed: pip install '.[{self.name}]' (make install does)"
        variable = self.model_dir_variable
        if not self.opts.model_dir:
            return f"set {variable} to {spec.directory}"
        path = Path(self.opts.model_dir)
        if not path.is_dir():
            return f"{variable} does not name a directory; set it to {spec.directory}"
        missing = [f for f in spec.required_files if not (path / f).is_file()]
        if missing:
            return f"the directory in {variable} lacks {', '.join(missing)}: not {spec.directory}"
        return self._load_error

    def describe(self) -> EngineDescription:
        reason, spec, variable = self.missing_reason(), self.spec, self.model_dir_variable
        model = ModelDescription(
            name=spec.model, aliases=spec.model_aliases, available=not reason, unavailable_reason=reason,
            multilingual=spec.multilingual, source=variable if self.opts.model_dir else f"{variable} (unset)",
        )
        return EngineDescription(
            name=self.name, aliases=self.aliases,
            capabilities=Capabilities(
                native_streaming=True, interim_results=True, word_time_offsets=True,  # chunk-level
                translate=False, language_detection=False, languages=self.languages(),
            ),
            models=(model,), default_model=spec.model, available=not reason, unavailable_reason=reason,
            device="cpu",
        )

    def resolve(self, settings: SessionSettings) -> SessionSettings:
        spec, languages = self.spec, self.languages()
        if settings.model and settings.model not in (spec.model, *spec.model_aliases):
            raise InvalidSettings(f"unknown {spec.title} model {settings.model!r}; use {spec.model!r} "
                                  f"(or leave it empty)", field_name="config.model")
        if settings.language and primary_language(settings.language) not in languages:
            raise InvalidSettings(
                f"language {settings.language!r} is not supported by the {spec.title} model {spec.model}, "
                f"which recognizes {', '.join(languages)}; {self.language_hint()}", field_name="config.language")
        return self.transcribing(settings, model=spec.model, default_language=languages[0],
                                 unavailable=self.missing_reason(), title=spec.title)

    # ---- the shared model -----------------------------------------------------------------
    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                log.info("loading %s model from %s", self.spec.title, self.opts.model_dir)
                try:
                    self._model = self.spec.load(self.opts)
                except EngineUnavailable as exc:
                    self._load_error = exc.message
                    raise
                except Exception as exc:
                    error_id = new_error_id()
                    log.exception("error %s: %s could not load %s", error_id, self.spec.title, self.opts.model_dir)
                    raise EngineUnavailable(
                        f"{self.spec.title} could not load the model in {self.model_dir_variable} (error id "
                        f"{error_id}); it must hold {self.spec.directory}") from exc
            return self._model

    async def loaded_model(self) -> Any:
        """The shared model, loaded on the engine's executor on first use."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def warm_up(self) -> None:
        if not self.missing_reason():
            await self.loaded_model()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
