"""Where faster-whisper decodes (core_service/engines/whisper_device.py): `--device auto|cpu|cuda`,
`--device-index` and `--compute-type` reach CTranslate2 as given, the CPU path is the one of
before, and CUDA asked for where there is none is refused saying what to do. This machine has no
GPU: the CUDA tests check what it can, that the request reaches CTranslate2's CUDA backend and
that the refusal is clear (docs/engines.md says what was not measured)."""
from __future__ import annotations

import subprocess
import sys

import ctranslate2
import grpc
import pytest

from core_service.config import ServerConfig
from core_service.engines import torch_threads
from core_service.engines.base import EngineUnavailable, SessionSettings
from core_service.engines.whisper import WhisperEngine, WhisperOptions
from core_service.engines.whisper_decoder import WhisperDecoder
from core_service.engines.whisper_device import DEFAULT_COMPUTE_TYPES, Placement, choose_device, place
from core_service.models import tiny_en_path
from core_service.server import build_registry
from tests.conftest import ROOT, free_port

no_gpu = pytest.mark.skipif(ctranslate2.get_cuda_device_count() > 0, reason="this test is for a machine without a GPU")


def test_auto_takes_cuda_only_when_ctranslate2_sees_a_gpu():
    assert choose_device("auto", 0) == "cpu" and choose_device("auto", 1) == "cuda"
    assert choose_device("cpu", 2) == "cpu" and choose_device("cuda", 0) == "cuda"
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        choose_device("tpu", 0)


@no_gpu
def test_auto_here_is_the_cpu_path_of_before():
    assert place("auto") == Placement("cpu", 0, "int8")
    assert place("auto", compute_type="float32") == Placement("cpu", 0, "float32")
    assert place("auto", index=1).index == 0  # a GPU index means nothing on the CPU


@no_gpu
def test_cuda_asked_for_without_a_gpu_is_refused_saying_what_to_do():
    with pytest.raises(EngineUnavailable) as err:
        place("cuda")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "CTranslate2 sees no CUDA GPU" in err.value.message and "--device cpu" in err.value.message


def test_a_compute_type_the_device_cannot_run_is_refused_with_those_it_can():
    with pytest.raises(EngineUnavailable) as err:
        place("cpu", compute_type="float16")
    assert "--compute-type float16 is not supported on cpu" in err.value.message
    assert "int8" in err.value.message and "float32" in err.value.message


def test_the_options_reach_ctranslate2_on_the_cpu():
    engine = WhisperEngine(WhisperOptions(device="cpu", compute_type="float32", workers=2, route_languages=False))
    loaded = engine._load("tiny.en")
    try:
        model = loaded.decoder.model.model  # the ctranslate2.models.Whisper faster-whisper built
        assert (model.device, model.device_index, model.compute_type, model.num_workers) == ("cpu", [0], "float32", 2)
    finally:
        loaded.scheduler.close()


@no_gpu
def test_the_default_engine_decodes_on_the_cpu_in_int8_as_before():
    engine = WhisperEngine(WhisperOptions())
    loaded = engine._load("tiny.en")
    try:
        model = loaded.decoder.model.model
        # what main's WhisperModel(device="cpu", compute_type="int8") gave: int8 weights, float32 activations
        assert (model.device, model.compute_type) == ("cpu", "int8_float32")
        assert engine.device == "cpu" and engine.describe().device == "cpu"
    finally:
        loaded.scheduler.close()


@no_gpu
def test_a_cuda_decoder_reaches_ctranslate2s_cuda_backend():
    """No GPU here: CTranslate2 itself fails to start CUDA, which shows the device got there."""
    assert DEFAULT_COMPUTE_TYPES == {"cpu": "int8", "cuda": "float16"}
    with pytest.raises(RuntimeError, match="CUDA"):
        WhisperDecoder(str(tiny_en_path()), device="cuda", device_index=0, compute_type=DEFAULT_COMPUTE_TYPES["cuda"])


@no_gpu
def test_an_engine_asked_for_cuda_here_is_unavailable_and_says_why():
    engine = WhisperEngine(WhisperOptions(device="cuda"))
    listing = engine.describe()
    assert not listing.available and listing.device == "cuda:0"
    assert "--device cpu" in listing.unavailable_reason
    assert all(not m.available and "--device cpu" in m.unavailable_reason for m in listing.models)
    with pytest.raises(EngineUnavailable, match="--device cpu"):
        engine.resolve(SessionSettings(engine="whisper", model=""))
    with pytest.raises(EngineUnavailable, match="--device cpu"):
        engine._load("tiny.en")


def test_flags_and_environment_reach_the_engine(monkeypatch):
    monkeypatch.setattr(torch_threads, "_configured", torch_threads._configured)  # build_registry sets it
    config = ServerConfig.from_args(["--device", "cuda", "--device-index", "1", "--compute-type", "int8_float16"])
    engine = build_registry(config).get()
    assert (engine.options.device, engine.options.device_index, engine.options.compute_type) == \
        ("cuda", 1, "int8_float16")
    assert engine.device == "cuda:1"
    monkeypatch.setenv("ASR_DEVICE", "cpu")
    assert ServerConfig.from_args([]).device == "cpu"
    assert ServerConfig.from_args([]).compute_type == ""  # per device
    with pytest.raises(SystemExit):
        ServerConfig.from_args(["--device", "tpu"])


@no_gpu
def test_the_core_does_not_start_on_cuda_without_a_gpu_and_says_what_to_do():
    proc = subprocess.run([sys.executable, "-m", "core_service", "--device", "cuda", "--port", str(free_port())],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode != 0
    assert "cannot start: whisper engine unavailable: --device cuda was asked for" in proc.stderr
    assert "--device cpu" in proc.stderr and "Traceback" not in proc.stderr
