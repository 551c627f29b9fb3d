"""Helpers of the transport tests (test_transport_*.py): the transcribe test dialect
(transcribe_dialect.py) in process or as a subprocess, JFK's speech as PCM16, an API keys file."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator

from bridge_helpers import BridgeProcess, wait_for_port
from bridges.runtime import Bridge, DialectSpec
from tests.audio_fixtures import to_pcm16, wer
from tests.conftest import ROOT, free_port
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
    """`python -m tests.bridges.transcribe_dialect TRANSPORT` as a real process (for SIGTERM)."""
    port = free_port()
    log_path = tmp_dir / f"bridge-transcribe-{transport}-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "tests.bridges.transcribe_dialect", transport, "--host",
                                 "127.0.0.1", "--port", str(port), "--core", core, *flags],
                                cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    bridge = BridgeProcess(f"transcribe_{transport}", port, proc, log_path)
    try:
        wait_for_port(port, proc)
    except Exception:
        bridge.stop()
        raise RuntimeError(f"the {transport} test bridge failed to start:\n{bridge.log()[-4000:]}")
    return bridge
