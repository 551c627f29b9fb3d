"""SpeechBrain streaming transducer through `speechbrain.inference.ASR.StreamingASR`.

The model is loaded once from a local directory in the layout StreamingASR loads
(hyperparams.yaml with `fea_streaming_extractor`, `decoding_function`, ... plus the files its
Pretrainer collects: model.ckpt, normalizer.ckpt, tokenizer.ckpt — a snapshot of
speechbrain/asr-streaming-conformer-librispeech works as is) and shared by every session; each
session keeps only its streaming context (`make_streaming_context`). No network access: files
are used in place (LocalStrategy.NO_LINK, allow_network=False).

Environment (keyword arguments of `SpeechBrainEngine` override them):
  ASR_SPEECHBRAIN_MODEL_DIR            model directory (required; no download)
  ASR_SPEECHBRAIN_CHUNK_SIZE           DynChunkTrainConfig chunk_size in encoder frames, default 16
                                       (640 ms for the LibriSpeech conformer)
  ASR_SPEECHBRAIN_LEFT_CONTEXT_CHUNKS  DynChunkTrainConfig left_context_chunks, default 4
  ASR_SPEECHBRAIN_LANGUAGE             language the model recognizes, default "en"
  ASR_SPEECHBRAIN_WORKERS              sessions decoding at the same time, default 2
  ASR_SPEECHBRAIN_MAX_SEGMENT_SECONDS  force a final after this much continuous speech, default 30
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import new_error_id
from .base import (
    Capabilities, Emit, Engine, EngineDescription, EngineStream, EngineUnavailable, InvalidSettings,
    ModelDescription, SessionSettings,
)
from . import torch_threads
from ..segmenter.native_incremental import NativeStream, SegmentPolicy, UtteranceDecoder
from .speechbrain_weights import check_loaded

log = logging.getLogger(__name__)

MODEL_NAME = "conformer-transducer-streaming"
MODEL_ALIASES = ("conformer-transducer", "asr-streaming-conformer", "conformer-rnnt")
REQUIRED_FILES = ("hyperparams.yaml",)


@dataclass
class SpeechBrainOptions:
    model_dir: str = ""
    chunk_size: int = 16
    left_context_chunks: int = 4
    language: str = "en"
    workers: int = 2
    max_segment_seconds: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> "SpeechBrainOptions":
        env = os.environ.get
        opts = cls(
            model_dir=env("ASR_SPEECHBRAIN_MODEL_DIR", ""),
            chunk_size=int(env("ASR_SPEECHBRAIN_CHUNK_SIZE", "16")),
            left_context_chunks=int(env("ASR_SPEECHBRAIN_LEFT_CONTEXT_CHUNKS", "4")),
            language=env("ASR_SPEECHBRAIN_LANGUAGE", "en"),
            workers=int(env("ASR_SPEECHBRAIN_WORKERS", "2")),
            max_segment_seconds=float(env("ASR_SPEECHBRAIN_MAX_SEGMENT_SECONDS", "30")),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(opts, key, value)
        if opts.chunk_size < 1 or opts.left_context_chunks < 0:
            raise ValueError("ASR_SPEECHBRAIN_CHUNK_SIZE must be >= 1 and LEFT_CONTEXT_CHUNKS >= 0")
        return opts


def missing_reason(opts: SpeechBrainOptions) -> str:
    """Why the engine cannot serve (empty when it can), phrased as what to do."""
    if importlib.util.find_spec("speechbrain") is None or importlib.util.find_spec("torch") is None:
        return "SpeechBrain is not installed: pip install '.[speechbrain]' (make install does)"
    if not opts.model_dir:
        return "set ASR_SPEECHBRAIN_MODEL_DIR to a streaming transducer model directory (hyperparams.yaml layout)"
    path = Path(opts.model_dir)
    if not path.is_dir():
        return "ASR_SPEECHBRAIN_MODEL_DIR does not name a directory; set it to a StreamingASR model directory"
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        return (f"the directory in ASR_SPEECHBRAIN_MODEL_DIR lacks {', '.join(missing)}: "
                "not a SpeechBrain StreamingASR model directory")
    return ""


class TransducerModel:
    """The shared StreamingASR and its streaming configuration."""

    def __init__(self, opts: SpeechBrainOptions):
        from .torchaudio_compat import import_torchaudio

        import_torchaudio()
        import torch
        from speechbrain.inference.ASR import StreamingASR
        from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
        from speechbrain.utils.fetching import FetchConfig, LocalStrategy

        torch_threads.apply()  # process-wide, set once from the core's --cpu-threads
        self.torch = torch
        path = str(Path(opts.model_dir).resolve())
        self.asr = StreamingASR.from_hparams(
            source=path, savedir=path, local_strategy=LocalStrategy.NO_LINK,
            fetch_config=FetchConfig(allow_network=False), run_opts={"device": "cpu"},
        )
        check_loaded(self.asr, opts.model_dir)  # strict=False loading would accept any weights
        self.config = DynChunkTrainConfig(opts.chunk_size, opts.left_context_chunks)
        self.chunk_samples = self.asr.get_chunk_size_frames(self.config)
        self.final_chunks = self.asr.hparams.fea_streaming_extractor.get_recommended_final_chunk_count(
            self.chunk_samples)
        log.info("SpeechBrain model %s: %d-sample chunks (%.0f ms), %d left-context chunks",
                 path, self.chunk_samples, self.chunk_samples / 16, opts.left_context_chunks)

    def transcribe(self, context, chunk: np.ndarray, fill: float = 1.0) -> str:
        x = self.torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))[None]
        return self.asr.transcribe_chunk(context, x, self.torch.tensor([fill]))[0]


class TransducerDecoder(UtteranceDecoder):
    """One utterance: its streaming context and the audio not yet making a whole chunk."""

    def __init__(self, model: TransducerModel):
        self.model = model
        self.resolution = model.chunk_samples / 16000  # one encoder chunk
        self.context = model.asr.make_streaming_context(model.config)
        self.pending = np.zeros(0, dtype=np.float32)
        self.text = ""

    def feed(self, audio: np.ndarray) -> str:
        n = self.model.chunk_samples
        buf = np.concatenate([self.pending, audio])
        whole = len(buf) // n * n
        for i in range(0, whole, n):
            self.text += self.model.transcribe(self.context, buf[i:i + n])
        self.pending = buf[whole:]
        return self.text.strip()

    def flush(self) -> str:
        n = self.model.chunk_samples
        if len(self.pending):
            chunk = np.zeros(n, dtype=np.float32)
            chunk[:len(self.pending)] = self.pending
            self.text += self.model.transcribe(self.context, chunk, len(self.pending) / n)
        for _ in range(self.model.final_chunks):  # zeros push the encoder's look-ahead through
            self.text += self.model.transcribe(self.context, np.zeros(n, dtype=np.float32))
        self.pending = np.zeros(0, dtype=np.float32)
        return self.text.strip()


class SpeechBrainEngine(Engine):
    name = "speechbrain"
    aliases = ("rnnt", "conformer-rnnt")

    def __init__(self, **overrides: Any):
        self.opts = SpeechBrainOptions.from_env(**overrides)
        self._model: TransducerModel | None = None
        self._load_error = ""  # why the weights were refused, once a load has failed
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max(1, self.opts.workers), thread_name_prefix="speechbrain")

    def describe(self) -> EngineDescription:
        reason = missing_reason(self.opts) or self._load_error
        model = ModelDescription(
            name=MODEL_NAME, aliases=MODEL_ALIASES, available=not reason, unavailable_reason=reason,
            multilingual=False, source="ASR_SPEECHBRAIN_MODEL_DIR" if self.opts.model_dir else "ASR_SPEECHBRAIN_MODEL_DIR (unset)",
        )
        return EngineDescription(
            name=self.name, aliases=self.aliases,
            capabilities=Capabilities(
                native_streaming=True, interim_results=True, word_time_offsets=True,  # chunk-level
                translate=False, language_detection=False, languages=(self.opts.language,),
            ),
            models=(model,), default_model=MODEL_NAME, available=not reason, unavailable_reason=reason,
        )

    def resolve(self, settings: SessionSettings) -> SessionSettings:
        if settings.model and settings.model not in (MODEL_NAME, *MODEL_ALIASES):
            raise InvalidSettings(
                f"unknown SpeechBrain model {settings.model!r}; use {MODEL_NAME!r} (or leave it empty)",
                field_name="config.model",
            )
        if settings.task == "translate":
            raise InvalidSettings("the SpeechBrain transducer cannot translate; use task TRANSCRIBE",
                                  field_name="config.task")
        lang = settings.language.split("-")[0].lower()
        if lang and lang != self.opts.language:
            raise InvalidSettings(
                f"language {settings.language!r} is not supported by the SpeechBrain model, which "
                f"recognizes {self.opts.language!r} (set ASR_SPEECHBRAIN_LANGUAGE for another model)",
                field_name="config.language",
            )
        reason = missing_reason(self.opts) or self._load_error
        if reason:
            raise EngineUnavailable(f"SpeechBrain engine unavailable: {reason}")
        settings.engine, settings.model = self.name, MODEL_NAME
        settings.language = settings.language or self.opts.language
        return settings

    def _load(self) -> TransducerModel:
        with self._load_lock:
            if self._model is None:
                log.info("loading SpeechBrain model from %s", self.opts.model_dir)
                try:
                    self._model = TransducerModel(self.opts)
                except EngineUnavailable as exc:
                    self._load_error = exc.message
                    raise
                except Exception as exc:
                    error_id = new_error_id()
                    log.error("error %s: SpeechBrain could not load %s", error_id, self.opts.model_dir, exc_info=True)
                    raise EngineUnavailable(
                        f"SpeechBrain could not load the model in ASR_SPEECHBRAIN_MODEL_DIR (error id {error_id}). "
                        "ASR_SPEECHBRAIN_MODEL_DIR must hold a StreamingASR model (hyperparams.yaml, "
                        "model.ckpt, normalizer.ckpt, tokenizer.ckpt)"
                    ) from exc
            return self._model

    async def warm_up(self) -> None:
        if not missing_reason(self.opts):
            await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        model = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        policy = SegmentPolicy(max_segment_seconds=self.opts.max_segment_seconds)
        return NativeStream(settings, emit, lambda: TransducerDecoder(model), self._executor, policy,
                            language=settings.language.split("-")[0])

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
