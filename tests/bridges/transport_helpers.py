"""Helpers of the transport tests (test_transport_*.py): the transcribe test dialect
(transcribe_dialect.py) in process or as a subprocess, JFK's speech as PCM16, an API keys file."""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from bridge_helpers import BridgeProcess, start_bridge
from bridges.runtime import Bridge, DialectSpec
from tests.audio_fixtures import to_pcm16, wer
from tests.real_speech import load
from tests.security_helpers import KEYS_TOML, WEB, Pki

__all__ = ["WEB", "jfk_pcm", "jfk_transcript", "assert_jfk", "keys_path", "running_bridge", "dialect_process", "refused_soon", "tls_flags"]

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


@contextlib.asynccontextmanager
async def dialect_process(tmp_dir: Path, transport: str, core: str, *flags: str) -> AsyncIterator[BridgeProcess]:
    """The test dialect on `transport` as a real process (transcribe_dialect.py's main), for
    SIGTERM: the block signals it, and the process must then exit 0 by itself."""
    bridge = start_bridge(tmp_dir, f"transcribe_{transport}", core, *flags, "--transport", transport,
                          module="tests.bridges.transcribe_dialect")
    try:
        yield bridge
        assert await asyncio.to_thread(bridge.proc.wait, 60) == 0, bridge.log()[-3000:]
    finally:
        bridge.stop()


async def refused_soon(attempt: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """New connections are refused once the bridge has taken its SIGTERM (which may take a moment
    on a loaded machine): `attempt` opens one and says whether it was refused."""
    deadline = time.monotonic() + seconds
    while not await attempt():
        assert time.monotonic() < deadline, f"still accepting new connections {seconds:g} s after SIGTERM"
        await asyncio.sleep(0.2)


def tls_flags(pki: Pki) -> tuple[str, ...]:
    return "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)
