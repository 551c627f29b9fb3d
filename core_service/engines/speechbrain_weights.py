"""Refuse SpeechBrain weights that do not fit the modules their hyperparams.yaml builds.

SpeechBrain's Pretrainer moves weights into nn.Modules with `torch_parameter_transfer`, which
calls `load_state_dict(strict=False)` and only logs a warning for each missing or unexpected
key (speechbrain/utils/checkpoints.py). A checkpoint from another architecture or another
SpeechBrain version then loads "successfully" and decodes garbage. After loading, this module
compares every such checkpoint's keys with its module's own, and checks that a global input
normalizer received its statistics (normalizer.ckpt); any mismatch is an EngineUnavailable
that names what is missing.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .base import EngineUnavailable

log = logging.getLogger(__name__)

SHOWN_KEYS = 5  # keys named in the error; the count says how many there are


def _checkpoint_keys(path: Path) -> set[str]:
    import torch

    try:  # memory-mapped: only the key names are needed, not a second copy of the weights
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception:
        state = torch.load(path, map_location="cpu", weights_only=False)
    return set(state)


def _loaded_path(pretrainer: Any, name: str) -> Path:
    if name in getattr(pretrainer, "is_local", ()) and name in pretrainer.paths:
        return Path(pretrainer.paths[name])
    return Path(pretrainer.collect_in) / f"{name}.ckpt"


def _names(keys: set[str]) -> str:
    shown = sorted(keys)[:SHOWN_KEYS]
    more = f" and {len(keys) - len(shown)} more" if len(keys) > len(shown) else ""
    return ", ".join(shown) + more


def mismatches(pretrainer: Any) -> list[str]:
    """What does not fit, one line per loadable (empty when everything does)."""
    import torch
    from speechbrain.processing.features import InputNormalization
    from speechbrain.utils.checkpoints import (
        DEFAULT_TRANSFER_HOOKS, get_default_hook, torch_parameter_transfer,
    )

    problems = []
    for name, obj in pretrainer.loadables.items():
        path = _loaded_path(pretrainer, name)
        if isinstance(obj, InputNormalization):
            if obj.norm_type == "global" and not obj.count:
                problems.append(f"{path.name} gave the global input normalizer no statistics (count 0)")
            continue
        if name in pretrainer.custom_hooks or not isinstance(obj, torch.nn.Module):
            continue
        if get_default_hook(obj, DEFAULT_TRANSFER_HOOKS) is not torch_parameter_transfer:
            continue  # a module with its own strict loader
        own, saved = set(obj.state_dict()), _checkpoint_keys(path)
        missing, unexpected = own - saved, saved - own
        if missing:
            problems.append(f"{path.name} lacks {len(missing)} of the {len(own)} parameters of `{name}` "
                            f"({_names(missing)})")
        if unexpected:
            problems.append(f"{path.name} has {len(unexpected)} parameters `{name}` does not have "
                            f"({_names(unexpected)})")
    return problems


def check_loaded(asr: Any, model_dir: str) -> None:
    """Raise EngineUnavailable when the loaded weights do not fit the model (see module doc)."""
    pretrainer = getattr(asr.hparams, "pretrainer", None)
    if pretrainer is None:
        return
    problems = mismatches(pretrainer)
    if problems:
        import speechbrain

        raise EngineUnavailable(
            f"the weights in {model_dir} do not fit the model its hyperparams.yaml builds with SpeechBrain "
            f"{speechbrain.__version__}: " + "; ".join(problems)
            + ". Use a checkpoint trained with this hyperparams.yaml (and this SpeechBrain version)")
    log.info("SpeechBrain weights in %s match the model (%d loadables checked)", model_dir,
             len(pretrainer.loadables))
