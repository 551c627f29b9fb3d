"""Where faster-whisper decodes: the CPU or a CUDA GPU (`--device`, `--device-index`, `--compute-type`).

`auto` takes the GPU when CTranslate2 sees one (`ctranslate2.get_cuda_device_count() > 0`),
else the CPU. The compute type defaults per device: int8 on the CPU (what the core always ran),
float16 on CUDA (what GPUs run fast and faster-whisper recommends there). Whatever cannot work is
found here, before any model loads, and said as what to do: CUDA asked for on a machine where
CTranslate2 sees no GPU, a GPU index it does not see, a compute type the device does not support.
CUDA itself could not be tested on the machine this was written on (docs/engines.md).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from asr_common.redact import new_error_id

from .base import EngineUnavailable

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
DEFAULT_COMPUTE_TYPES = {"cpu": "int8", "cuda": "float16"}
ANY_DEVICE_COMPUTE_TYPES = ("default", "auto")  # CTranslate2's own choices, valid everywhere
CHANGE_DEVICE = "run the core with --device cpu, or --device auto to use a GPU only where there is one"


@dataclass(frozen=True)
class Placement:
    """The device a model is loaded on and its compute type, as CTranslate2 takes them."""

    device: str  # "cpu" or "cuda"
    index: int
    compute_type: str

    @property
    def label(self) -> str:
        """What ListEngines says: "cpu" or "cuda:<index>"."""
        return "cpu" if self.device == "cpu" else f"cuda:{self.index}"


def cuda_device_count() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


def supported_compute_types(device: str, index: int) -> set[str]:
    import ctranslate2

    return set(ctranslate2.get_supported_compute_types(device, index))


def choose_device(requested: str, cuda_devices: int) -> str:
    """"cpu" or "cuda" for `--device` (auto, cpu, cuda) with `cuda_devices` GPUs seen."""
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {requested!r}")
    if requested == "auto":
        return "cuda" if cuda_devices > 0 else "cpu"
    return requested


def place(requested: str = "auto", index: int = 0, compute_type: str = "") -> Placement:
    """The placement for the flags, or EngineUnavailable saying what to do."""
    count = cuda_device_count()
    device = choose_device(requested, count)
    if device == "cpu":
        if index:
            log.warning("--device-index %d ignored: it names a CUDA GPU and whisper runs on the CPU", index)
        index = 0
    elif count == 0:
        raise EngineUnavailable(
            "--device cuda was asked for, but CTranslate2 sees no CUDA GPU (no NVIDIA GPU, or no driver recent "
            f"enough for its CUDA 12 build); {CHANGE_DEVICE}")
    elif not 0 <= index < count:
        raise EngineUnavailable(f"--device-index {index} names no GPU: CTranslate2 sees {count} CUDA "
                                f"device{'s' if count > 1 else ''} (index 0 to {count - 1}); pick one of those")
    compute = compute_type or DEFAULT_COMPUTE_TYPES[device]
    placement = Placement(device, index, compute)
    try:
        types = supported_compute_types(device, index)
    except Exception as exc:  # a driver or runtime CTranslate2 cannot use
        error_id = new_error_id()
        log.error("error %s: CTranslate2 cannot use %s: %s", error_id, placement.label, exc)
        raise EngineUnavailable(
            f"CTranslate2 cannot use {placement.label} (error id {error_id}: the core's log has CUDA's message); check "
            f"the NVIDIA driver and the CUDA 12 libraries faster-whisper needs (docs/engines.md), or {CHANGE_DEVICE}"
        ) from exc
    if compute not in types and compute not in ANY_DEVICE_COMPUTE_TYPES:
        raise EngineUnavailable(
            f"--compute-type {compute} is not supported on {placement.label} by this CTranslate2 build; use one of "
            f"{', '.join(sorted(types))}, or leave --compute-type empty (int8 on the CPU, float16 on CUDA)")
    return placement
