"""The base of engines that run one local streaming model (FunASR, SpeechBrain).

Such an engine loads its model once, from a directory named by `ASR_<ENGINE>_MODEL_DIR` (never
downloaded), shares it by every session, and runs each session's decoding on its own thread pool
of `ASR_<ENGINE>_WORKERS` threads. What the subclasses share lives here: options from the
environment, the reason the engine cannot serve (phrased as what to do), describe, resolve, load
(once, with a clear error naming the variable to fix), warm-up and close. A subclass names its
model and packages in class attributes and builds its model in `build_model`; its `open_stream`
decodes with the model `loaded_model()` returns.
"""
from __future__ import annotations

import abc
import asyncio
import importlib.util
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import new_error_id
from .base import (
    Capabilities,
    Engine,
    EngineDescription,
    EngineUnavailable,
    InvalidSettings,
    ModelDescription,
    SessionSettings,
    primary_language,
)
from .env_options import EnvOptions

log = logging.getLogger(__name__)


@dataclass
class LocalModelOptions(EnvOptions):
    model_dir: str = ""  # the model directory (required; no download)
    workers: int = 2  # sessions decoding at the same time
    max_segment_seconds: float = 30.0  # force a final after this much continuous speech


class LocalModelEngine(Engine):
    """One local streaming model, loaded once and shared; see the module docstring."""

    options_class: ClassVar[type[LocalModelOptions]]
    title: ClassVar[str]  # the engine in messages: "FunASR"
    model_name: ClassVar[str]
    model_aliases: ClassVar[tuple[str, ...]] = ()
    model_kind: ClassVar[str]  # what the directory must be: "a paraformer-zh-streaming model directory"
    packages: ClassVar[tuple[str, ...]]  # Python modules the engine needs (installed by the extra `name`)
    required_files: ClassVar[tuple[str, ...]]
    multilingual: ClassVar[bool] = False

    def __init__(self, **overrides: Any):
        self.opts = self.options_class.from_env(**overrides)
        self._model: Any = None
        self._load_error = ""  # why the weights were refused, once a load has failed
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max(1, self.opts.workers), thread_name_prefix=self.name)

    # ---- what a subclass says -------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self) -> Any:
        """Load the shared model from `self.opts` (on an executor thread). Raise EngineUnavailable
        to say what is wrong with the files; any other error is reported as a failed load."""

    def languages(self) -> tuple[str, ...]:
        """The languages the model recognizes, the default first."""
        return ("en",)

    def language_hint(self) -> str:
        """What to do about a language the model does not recognize."""
        return "leave language empty"

    # ---- availability ---------------------------------------------------------------------
    @property
    def model_dir_variable(self) -> str:
        return self.options_class.variable("model_dir")

    def missing_reason(self) -> str:
        """Why the engine cannot serve (empty when it can), phrased as what to do. Cheap."""
        if any(importlib.util.find_spec(p) is None for p in self.packages):
            return f"{self.title} is not installed: pip install '.[{self.name}]' (make install does)"
        variable = self.model_dir_variable
        if not self.opts.model_dir:
            return f"set {variable} to {self.model_kind}"
        path = Path(self.opts.model_dir)
        if not path.is_dir():
            return f"{variable} does not name a directory; set it to {self.model_kind}"
        missing = [f for f in self.required_files if not (path / f).is_file()]
        if missing:
            return f"the directory in {variable} lacks {', '.join(missing)}: not {self.model_kind}"
        return self._load_error

    def describe(self) -> EngineDescription:
        reason = self.missing_reason()
        variable = self.model_dir_variable
        model = ModelDescription(
            name=self.model_name, aliases=self.model_aliases, available=not reason, unavailable_reason=reason,
            multilingual=self.multilingual, source=variable if self.opts.model_dir else f"{variable} (unset)",
        )
        return EngineDescription(
            name=self.name, aliases=self.aliases,
            capabilities=Capabilities(
                native_streaming=True, interim_results=True, word_time_offsets=True,  # chunk-level
                translate=False, language_detection=False, languages=self.languages(),
            ),
            models=(model,), default_model=self.model_name, available=not reason, unavailable_reason=reason,
        )

    def resolve(self, settings: SessionSettings) -> SessionSettings:
        if settings.model and settings.model not in (self.model_name, *self.model_aliases):
            raise InvalidSettings(f"unknown {self.title} model {settings.model!r}; use {self.model_name!r} "
                                  f"(or leave it empty)", field_name="config.model")
        languages = self.languages()
        if settings.language and primary_language(settings.language) not in languages:
            raise InvalidSettings(
                f"language {settings.language!r} is not supported by the {self.title} model {self.model_name}, "
                f"which recognizes {', '.join(languages)}; {self.language_hint()}", field_name="config.language")
        return self.transcribing(settings, model=self.model_name, default_language=languages[0],
                                 unavailable=self.missing_reason(), title=self.title)

    # ---- the shared model -----------------------------------------------------------------
    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                log.info("loading %s model from %s", self.title, self.opts.model_dir)
                try:
                    self._model = self.build_model()
                except EngineUnavailable as exc:
                    self._load_error = exc.message
                    raise
                except Exception as exc:
                    error_id = new_error_id()
                    log.exception("error %s: %s could not load %s", error_id, self.title, self.opts.model_dir)
                    raise EngineUnavailable(
                        f"{self.title} could not load the model in {self.model_dir_variable} (error id "
                        f"{error_id}); it must hold {self.model_kind}") from exc
            return self._model

    async def loaded_model(self) -> Any:
        """The shared model, loaded on the engine's executor on first use."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def warm_up(self) -> None:
        if not self.missing_reason():
            await self.loaded_model()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
