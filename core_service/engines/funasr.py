"""FunASR paraformer-online: native streaming Mandarin recognition through `funasr.AutoModel`.

The model is loaded once from a local directory: a ModelScope snapshot of
iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online (configuration.json naming
config.yaml, model.pt, am.mvn, tokens.json, seg_dict), or the same files without
configuration.json, and shared by every session; each session keeps only its own `cache` dict.
The hub is never contacted: the path is given to AutoModel with `disable_update=True`.

Text: FunASR post-processes each chunk's tokens on their own, which drops an English word piece
that ends a chunk (`hel@@`, its word ending in the next chunk). The engine records the raw
tokens of every step (through FunASR's tokenizer) and post-processes the utterance's tokens
together, with FunASR's own `sentence_postprocess`. AutoModel calls `logging.basicConfig`; the
process's root logging is restored around it. torch threads: see torch_threads.py.

Environment (keyword arguments of `FunASREngine` override them):
  ASR_FUNASR_MODEL_DIR        model directory (required; no download)
  ASR_FUNASR_CHUNK_SIZE       paraformer chunk_size, default "0,10,5" (600 ms per decode step)
  ASR_FUNASR_ENCODER_LOOK_BACK  encoder_chunk_look_back, default 4
  ASR_FUNASR_DECODER_LOOK_BACK  decoder_chunk_look_back, default 1
  ASR_FUNASR_WORKERS          sessions decoding at the same time, default 2
  ASR_FUNASR_MAX_SEGMENT_SECONDS  force a final after this much continuous speech, default 30
"""
from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import torch_threads
from .base import Emit, EngineStream, SessionSettings
from .local_model import LocalModelEngine, LocalModelOptions, LocalModelSpec
from ..segmenter.native_incremental import NativeStream, SegmentPolicy, UtteranceDecoder

log = logging.getLogger(__name__)

MODEL_NAME = "paraformer-zh-streaming"
MODEL_ALIASES = ("paraformer", "paraformer-online", "paraformer-zh-streaming", "paraformer-zh-online")
LANGUAGES = ("zh", "en")  # Mandarin, with the English words the zh vocabulary carries
SNAPSHOT_FILE = "configuration.json"  # a ModelScope snapshot: AutoModel reads its file_path_metas


@dataclass
class FunASROptions(LocalModelOptions):
    ENV_PREFIX: ClassVar[str] = "ASR_FUNASR"
    chunk_size: list[int] = field(default_factory=lambda: [0, 10, 5])
    encoder_look_back: int = 4
    decoder_look_back: int = 1

    def check(self) -> None:
        if len(self.chunk_size) != 3:
            raise ValueError(f"ASR_FUNASR_CHUNK_SIZE must have 3 numbers like 0,10,5, got {self.chunk_size}")


@contextlib.contextmanager
def root_logging_kept():
    """Undo what `logging.basicConfig` (called by AutoModel with its log_level) does to the root
    logger: handlers added, level changed. The service's own logging configuration stays."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


class PieceRecorder:
    """FunASR's tokenizer, keeping the tokens each decoding call produced (ids2tokens is how
    ParaformerStreaming.generate_chunk turns ids into tokens)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.pieces: list[str] = []

    def ids2tokens(self, ids, *args, **kwargs):
        pieces = self.tokenizer.ids2tokens(ids, *args, **kwargs)
        self.pieces.extend(pieces)
        return pieces

    def __getattr__(self, name: str):
        return getattr(self.tokenizer, name)


def utterance_text(pieces: list[str], final: bool = False) -> str:
    """An utterance's text from all of its tokens at once, by FunASR's own post-processing, so an
    English word split across chunks (`hel@@` then `lo`) is joined. A word still open at the end
    (`hel@@`) waits for its end in a partial, and ends there in the final."""
    from funasr.utils.postprocess_utils import sentence_postprocess

    pieces = list(pieces)
    if final and pieces and pieces[-1].endswith("@@"):
        pieces[-1] = pieces[-1][:-2]
    return sentence_postprocess(pieces)[0] if pieces else ""


class ParaformerModel:
    """The shared AutoModel, and a thread-safe streaming call on it."""

    def __init__(self, opts: FunASROptions):
        from .torchaudio_compat import import_torchaudio

        import_torchaudio()
        from funasr import AutoModel

        self.opts = opts
        path = Path(opts.model_dir).resolve()
        self.snapshot = (path / SNAPSHOT_FILE).is_file()
        with root_logging_kept():
            self.auto = AutoModel(
                model=str(path), hub="ms", disable_update=True, device="cpu", ncpu=torch_threads.apply(),
                disable_pbar=True, disable_log=True, log_level="ERROR",
            )
        torch_threads.apply()  # AutoModel set ncpu threads: the same count, checked
        # AutoModel.generate merges per-call options into shared kwargs; passing our own copy
        # to `inference` keeps concurrent sessions from seeing each other's cache and is_final.
        self.base_kwargs = dict(self.auto.kwargs)
        log.info("FunASR model %s loaded from %s", self.base_kwargs.get("model", "?"),
                 f"a ModelScope snapshot ({SNAPSHOT_FILE})" if self.snapshot else "config.yaml")

    def decode(self, audio: np.ndarray, cache: dict, is_final: bool, key: str) -> list[str]:
        """The raw tokens of the next audio (before FunASR's per-chunk post-processing)."""
        kwargs = dict(self.base_kwargs)
        recorder = PieceRecorder(kwargs["tokenizer"])
        kwargs["tokenizer"] = recorder
        self.auto.inference(
            audio, kwargs=kwargs, key=[key], cache=cache, is_final=is_final,
            chunk_size=list(self.opts.chunk_size),
            encoder_chunk_look_back=self.opts.encoder_look_back,
            decoder_chunk_look_back=self.opts.decoder_look_back,
        )
        return recorder.pieces


class ParaformerDecoder(UtteranceDecoder):
    """One utterance: the session's paraformer cache and the tokens decoded so far."""

    def __init__(self, model: ParaformerModel, key: str):
        self.model = model
        self.key = key
        self.resolution = model.opts.chunk_size[1] * 960 / 16000  # one decoding step
        self.cache: dict = {}
        self.pieces: list[str] = []
        self.text = ""

    def feed(self, audio: np.ndarray) -> str:
        if len(audio):
            self.pieces += self.model.decode(audio, self.cache, False, self.key)
            self.text = utterance_text(self.pieces)
        return self.text

    def flush(self) -> str:
        self.pieces += self.model.decode(np.zeros(0, dtype=np.float32), self.cache, True, self.key)
        self.text = utterance_text(self.pieces, final=True)
        self.cache = {}
        return self.text


class FunASREngine(LocalModelEngine):
    name = "funasr"
    aliases = ("paraformer", "paraformer-online")
    spec = LocalModelSpec(
        "FunASR", FunASROptions, ParaformerModel, MODEL_NAME, MODEL_ALIASES,
        directory="a paraformer-zh-streaming model directory", packages=("funasr", "torch"),
        required_files=("config.yaml", "model.pt"), multilingual=True)

    def languages(self) -> tuple[str, ...]:
        return LANGUAGES

    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        model = await self.loaded_model()
        key = settings.session_id or uuid.uuid4().hex
        policy = SegmentPolicy(max_segment_seconds=self.opts.max_segment_seconds)
        return NativeStream(
            settings, emit, lambda: ParaformerDecoder(model, key), self._executor, policy,
            language=settings.language.split("-")[0],
        )
