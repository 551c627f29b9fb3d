"""Helpers the tests share: a hand-moved clock, proto Durations, a codec's JSON messages, WAV
files, a core process for a with-block, a local engine's tiny-model fixtures.

Real speech comes from tests/audio_fixtures.py, core and bridge processes from tests/conftest.py
and tests/bridges/bridge_helpers.py; this module holds what several test files wrote again.
"""
from __future__ import annotations

import contextlib
import io
import wave
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import soxr
from google.protobuf import duration_pb2

from bridges.codec import Action, SendJson
from tests.audio_fixtures import SAMPLE_RATE, to_pcm16
from tests.conftest import CoreProcess, start_core


class FakeClock:
    """A clock the test moves by hand (set or add to `now`); pass it where code takes a clock.
    It starts at a plausible Unix time, so it also stands in for `time.time`."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def duration(seconds: float) -> duration_pb2.Duration:
    """A proto Duration of `seconds` (truncated to whole nanoseconds)."""
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def jsons(actions: list[Action]) -> list[dict]:
    """The JSON messages a codec's actions send to the client, in order."""
    return [a.payload for a in actions if isinstance(a, SendJson)]


def wav_bytes(audio: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """16 kHz float audio as a 16-bit PCM WAV file at `rate` Hz. `audio` is one signal (put on
    each of `channels` channels) or one column per channel."""
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, SAMPLE_RATE, rate)
    frames = audio if audio.ndim == 2 else np.repeat(audio[:, None], channels, axis=1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_pcm16(frames.reshape(-1)))
    return buf.getvalue()


def write_wav(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    path.write_bytes(wav_bytes(audio, rate, channels))
    return path


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit mono WAV file as 16 kHz float32 audio."""
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate = w.getframerate()
    audio = pcm.astype(np.float32) / 32768
    return audio if rate == SAMPLE_RATE else soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)


@contextlib.contextmanager
def running_core(tmp_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[CoreProcess]:
    """A core process (tests/conftest.py `start_core`) for the length of a with-block or fixture."""
    core = start_core(tmp_dir, *args, env=env)
    try:
        yield core
    finally:
        core.stop()


def tiny_engine_fixtures(engine: str, build: Callable[[Path], Path], **env: str) -> tuple[Any, Any]:
    """The two module fixtures of a local engine's tests: its tiny model's directory (made by
    `build`, tests/engines/tiny_*.py) and a core serving it (8 sessions, ASR_<ENGINE>_MODEL_DIR
    plus `env`). Bind them in the test module as `tiny_model_dir, <name>_core = ...`: the core
    fixture asks for `tiny_model_dir` by that name."""

    @pytest.fixture(scope="module")
    def model_dir(tmp_path_factory) -> Path:
        return build(tmp_path_factory.mktemp(f"tiny-{engine}"))

    @pytest.fixture(scope="module")
    def core(tiny_model_dir: Path, tmp_path_factory) -> Iterator[CoreProcess]:
        model_env = {f"ASR_{engine.upper()}_MODEL_DIR": str(tiny_model_dir), **env}
        with running_core(tmp_path_factory.mktemp(f"core-{engine}"), "--max-sessions", "8", env=model_env) as served:
            yield served

    return model_dir, core
