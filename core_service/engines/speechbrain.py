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

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import torch_threads
from .base import Emit, EngineStream, SessionSettings
from .local_model import LocalModelEngine, LocalModelOptions, LocalModelSpec
from ..segmenter.native_incremental import NativeStream, SegmentPolicy, UtteranceDecoder
from .speechbrain_weights import check_loaded

log = logging.getLogger(__name__)

MODEL_NAME = "conformer-transducer-streaming"
MODEL_ALIASES = ("conformer-transducer", "asr-streaming-conformer", "conformer-rnnt")


@dataclass
class SpeechBrainOptions(LocalModelOptions):
    ENV_PREFIX: ClassVar[str] = "ASR_SPEECHBRAIN"
    chunk_size: int = 16
    left_context_chunks: int = 4
    language: str = "en"

    def check(self) -> None:
        if self.chunk_size < 1 or self.left_context_chunks < 0:
            raise ValueError("ASR_SPEECHBRAIN_CHUNK_SIZE must be >= 1 and LEFT_CONTEXT_CHUNKS >= 0")


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


class SpeechBrainEngine(LocalModelEngine):
    name = "speechbrain"
    aliases = ("rnnt", "conformer-rnnt")
    spec = LocalModelSpec("SpeechBrain", SpeechBrainOptions, TransducerModel, MODEL_NAME, MODEL_ALIASES,
                          directory="a SpeechBrain StreamingASR model directory (hyperparams.yaml, model.ckpt, "
                                    "normalizer.ckpt, tokenizer.ckpt)",
                          packages=("speechbrain", "torch"), required_files=("hyperparams.yaml",))

    def languages(self) -> tuple[str, ...]:
        return (self.opts.language,)

    def language_hint(self) -> str:
        return "set ASR_SPEECHBRAIN_LANGUAGE for a model of another language"

    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        model = await self.loaded_model()
        policy = SegmentPolicy(max_segment_seconds=self.opts.max_segment_seconds)
        return NativeStream(settings, emit, lambda: TransducerDecoder(model), self._executor, policy,
                            language=settings.language.split("-")[0])
