"""The speaker encoder: resemblyzer's pretrained GE2E d-vector network on ONNX Runtime.

PyPI `resemblyzer==0.1.4` (Apache-2.0) ships `resemblyzer/pretrained.pt`: a 3-layer LSTM (40 mel
bands in, 256 units) and a 256-d projection, ReLU, L2-normalised, over 1.6 s windows (160 frames).
It is installed with `--no-deps` (its librosa/webrtcvad are not needed: `features.py` computes the
input). The first use exports the weights to ONNX with torch (`onnx` writes the file; both are in
the `diarization` extra) into the model cache (`.models/diarization/`, or ASR_MODEL_CACHE), as
`make models` does ahead of time; after that only onnxruntime is needed. ONNX Runtime was chosen
over torch by measurement (docs/diarization.md): 16.5 against 19 ms a window on one thread.

`SpeakerEncoder` holds the one shared ONNX session (thread-safe for concurrent `run`).
"""
from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path

import numpy as np

from ..models import cache_dir
from .features import N_MELS, WINDOW_FRAMES, mel_spectrogram, normalize_volume

log = logging.getLogger(__name__)

PACKAGE = "resemblyzer==0.1.4"
EMBEDDING_SIZE = 256
ONNX_NAME = "resemblyzer-0.1.4-voice-encoder.onnx"
_INSTALL = "pip install --no-deps resemblyzer==0.1.4 (make install does)"


class EncoderUnavailable(RuntimeError):
    """The encoder's weights or runtime are missing; the message says how to install them."""


def weights_path() -> Path:
    # find_spec locates the package without importing it (its __init__ imports librosa and webrtcvad).
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable(f"the speaker encoder's weights are missing: {_INSTALL}")
    return Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"


def onnx_path() -> Path:
    return cache_dir() / "diarization" / ONNX_NAME


def export(target: Path | None = None) -> Path:
    """Write the ONNX model from the installed weights (no network); returns its path."""
    target = target or onnx_path()
    weights = weights_path()
    try:
        import torch
        import onnx  # noqa: F401  (torch's exporter writes the file with it)
    except ImportError as exc:
        raise EncoderUnavailable(f"exporting the speaker encoder needs torch and onnx: pip install "
                                 f"'asr-gateway[diarization]' (or run `make models` where they are): {exc}") from exc

    class VoiceEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
            self.linear = torch.nn.Linear(256, EMBEDDING_SIZE)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-8)

    model = VoiceEncoder()
    state = torch.load(weights, map_location="cpu")["model_state"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
    model.eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    log.info("exporting the speaker encoder %s to %s", weights, target)
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, WINDOW_FRAMES, N_MELS), str(tmp), input_names=["mels"],
                          output_names=["embeddings"], dynamic_axes={"mels": {0: "batch"}, "embeddings": {0: "batch"}},
                          opset_version=17, dynamo=False)
    tmp.replace(target)
    return target


class SpeakerEncoder:
    """The shared encoder: audio windows in, unit-length 256-d speaker embeddings out."""

    _instance: "SpeakerEncoder | None" = None
    _lock = threading.Lock()

    def __init__(self, path: Path | None = None, threads: int = 1):
        import onnxruntime

        path = path or onnx_path()
        if not path.is_file():
            path = export(path)
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    @classmethod
    def shared(cls) -> "SpeakerEncoder":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """mels: [n, 160, 40] float32 -> [n, 256] unit vectors."""
        return self.session.run(None, {"mels": np.ascontiguousarray(mels, dtype=np.float32)})[0]

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """One embedding per window of 16 kHz audio (each at most 1.6 s; shorter ones are padded
        with silence), volume-normalised one by one."""
        mels = np.zeros((len(windows), WINDOW_FRAMES, N_MELS), dtype=np.float32)
        for i, wav in enumerate(windows):
            mel = mel_spectrogram(normalize_volume(wav))[:WINDOW_FRAMES]
            mels[i, :len(mel)] = mel
        return self.embed_mels(mels)


def availability() -> str:
    """"" when the encoder can run (weights installed, and exported or exportable), else why not."""
    try:
        weights_path()
    except EncoderUnavailable as exc:
        return str(exc)
    if onnx_path().is_file():
        return ""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        return (f"the speaker encoder is not exported to {onnx_path().name} and torch or onnx is missing to "
                f"export it: pip install 'asr-gateway[diarization]' and run `make models`")
    return ""


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(export())


if __name__ == "__main__":
    main()
