#!/usr/bin/env bash
# Reference WhisperLive server (PyPI whisper-live 0.10.0) in its own virtualenv, CPU only.
#
# whisper-live declares torch, torchaudio, openvino, optimum, nvidia-cublas-cu12, ... as deps.
# Letting pip resolve them pulls several GB of CUDA packages, so:
#   1. torch==2.13.0 first: pip's find-links take the local CPU wheel;
#   2. whisper-live itself with --no-deps;
#   3. only what its server imports on the faster_whisper path: server.py (fastapi, uvicorn,
#      websockets, numpy, torch), vad.py (torch, onnxruntime), backend/faster_whisper_backend.py
#      (ctranslate2, huggingface_hub), transcriber/ (faster_whisper, tokenizers, tqdm, requests).
#      torchaudio, openvino, librosa, scipy, soundfile are only imported by the client, the
#      OpenVINO/TensorRT backends or diarization, none of which we run.
# Idempotent: a stamp records what was installed; re-running with nothing changed is a no-op.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/.venv-whisperlive"
PYTHON="${PYTHON:-python3}"
OUR_PY="$ROOT/.venv/bin/python"
CACHE="${WHISPERLIVE_CACHE:-$HOME/.cache/whisper-live}"

REQS=(
  "faster-whisper==1.2.0"
  "tokenizers==0.20.3"   # whisper-live's own pin; keeps huggingface_hub < 1.0
  "requests"             # faster_whisper.utils imports it; huggingface_hub >= 1.0 no longer brings it
  "websockets>=13,<16"
  "numpy>=1.26.4,<2.5"
  "onnxruntime>=1.20.0,<2"
  "fastapi"
  "uvicorn"
  "psutil"
)
STAMP="$VENV/.installed-whisper-live-0.10.0"
WANT="torch==2.13.0 whisper-live==0.10.0 ${REQS[*]}"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] \
   && "$VENV/bin/python" -c "import whisper_live.server" 2>/dev/null; then
  echo "whisper-live reference venv up to date: $VENV"
else
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || { echo "need Python 3.11 for the local torch CPU wheel (set PYTHON=...)" >&2; exit 1; }
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  "${PIP[@]}" --upgrade pip
  "${PIP[@]}" "torch==2.13.0"
  "${PIP[@]}" --no-deps "whisper-live==0.10.0"
  "${PIP[@]}" "torch==2.13.0" "${REQS[@]}"
  # Fail loudly if anything CUDA slipped in or torch is not the CPU build.
  if "$VENV/bin/python" -m pip list 2>/dev/null | grep -qi '^nvidia-'; then
    echo "nvidia packages found in $VENV; refusing to continue" >&2; exit 1
  fi
  "$VENV/bin/python" - <<'PY'
import torch
assert torch.__version__.startswith("2.13.0") and not torch.cuda.is_available(), torch.__version__
import whisper_live.server  # noqa: F401  (fastapi, uvicorn, websockets, vad -> torch, onnxruntime)
import whisper_live.backend.faster_whisper_backend  # noqa: F401
import whisper_live.batch_inference  # noqa: F401
print("whisper-live", __import__("whisper_live").__version__, "torch", torch.__version__)
PY
  echo "$WANT" > "$STAMP"
fi

# vad.py (used by its TensorRT path) wgets silero_vad.onnx into ~/.cache/whisper-live/ when
# missing; put our packaged copy there so nothing is ever downloaded at run time.
# find_spec locates the package without importing it (silero_vad imports torch).
ONNX="$("$OUR_PY" -c 'import importlib.util, os; s = importlib.util.find_spec("silero_vad"); print(os.path.join(s.submodule_search_locations[0], "data", "silero_vad.onnx"))')"
mkdir -p "$CACHE"
if ! cmp -s "$ONNX" "$CACHE/silero_vad.onnx"; then
  cp "$ONNX" "$CACHE/silero_vad.onnx"
  echo "copied $ONNX -> $CACHE/silero_vad.onnx"
fi
