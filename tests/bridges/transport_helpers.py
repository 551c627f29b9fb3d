"""Helpers of the transport tests (test_transport_*.py): the transcribe test dialect
(transcribe_dialect.py) in process or as a subprocess, JFK's speech as PCM16, an API keys file."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

from bridge_helpers import BridgeProcess, start_bridge
from bridges.runtime import Bridge, DialectSpec
from tests.audio_fixtures import to_pcm16, wer
from tests.real_speech import load
from tests.security_helpers import KEYS_TOML, WEB

__all__ = ["WEB", "jfk_pcm", "jfk_transcript", "assert_jfk", "keys_path", "running_bridge", "start_dialect_process"]

WRONG_KEY = "not-a-key-0000"


def jfk_pcm() -> bytes:
    return to_pcm16(load("jfk").audio)


def jfk_transcript() -> str:
    return load("jfk").transcript


def assert_jfk(text: str, max_wer: float = 0.15) -> None:
    assert wer(jfk_transcript(), text) <= max_wer, text


def keys_path(directory: Path) -> Path:
    path = directory / "keys.toml"
    path.write_text(KEYS_TOML)
    return path


@contextlib.asynccontextmanager
async def running_bridge(spec: DialectSpec, core: str, *flags: str) -> AsyncIterator[Bridge]:
    """The dialect served in this process on a free loopback port, through the real runtime."""
    bridge = Bridge.from_argv(spec, ["--host", "127.0.0.1", "--port", "0", "--core", core, *flags])
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.shutdown()


def start_dialect_process(tmp_dir: Path, transport: str, core: str, *flags: str) -> BridgeProcess:
    """The test dialect on `transport` as a real process (for SIGTERM): transcribe_dialect.py's main."""
    return start_bridge(tmp_dir, f"transcribe_{transport}", core, *flags, "--transport", transport,
                        module="tests.bridges.transcribe_dialect")
