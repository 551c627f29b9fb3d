"""Silero VAD on ONNX Runtime.

`SileroVad` holds the one shared ONNX session (thread-safe for concurrent `run`);
`VadStream` is a session's recurrent state. Where speech begins and ends is decided by
`core_service.segmenter.endpointer.Endpointer`.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from .engines.base import SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME = 512  # samples per VAD frame at 16 kHz (32 ms)
FRAME_SECONDS = FRAME / SAMPLE_RATE
_CONTEXT = 64


def silero_model_path() -> Path:
    # find_spec locates the package without importing it (its __init__ imports torch).
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Silero VAD is missing: pip install --no-deps silero-vad (make install does)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"


class SileroVad:
    """The shared Silero VAD model."""

    _instance: "SileroVad | None" = None
    _lock = threading.Lock()

    def __init__(self, path: Path | None = None, threads: int = 1):
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path or silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    @classmethod
    def shared(cls, threads: int = 1) -> "SileroVad":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(threads=threads)
            return cls._instance

    def run(self, frames: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frames: [batch, 64 + 512] float32 (context + frame); state: [2, batch, 128]."""
        prob, new_state = self.session.run(None, {"input": frames, "state": state, "sr": self._sr})
        return prob[:, 0], new_state

    def stream(self) -> "VadStream":
        return VadStream(self)


class VadStream:
    """One session's VAD state: feed any number of samples, get one probability per 32 ms frame."""

    def __init__(self, model: SileroVad):
        self.model = model
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros(_CONTEXT, dtype=np.float32)
        self.pending = np.zeros(0, dtype=np.float32)

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each whole frame completed by `audio` (leftover is kept)."""
        buf = np.concatenate([self.pending, audio]) if len(self.pending) else audio
        n = len(buf) // FRAME
        self.pending = buf[n * FRAME:].copy()
        probs = np.empty(n, dtype=np.float32)
        for i in range(n):
            frame = buf[i * FRAME:(i + 1) * FRAME]
            x = np.concatenate([self.context, frame])[None, :].astype(np.float32, copy=False)
            p, self.state = self.model.run(x, self.state)
            probs[i] = p[0]
            self.context = frame[-_CONTEXT:]
        return probs
