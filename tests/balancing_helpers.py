"""Helpers for the scale-out tests: sessions per core (from the core's own log) and a paced nexa client."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import numpy as np
import websockets

from tests.audio_fixtures import PARAGRAPH, silence, speech, to_pcm16
from tests.conftest import ROOT, free_port

HAPROXY_CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"

SESSION_STARTED = re.compile(r"session \S+ started")
CHUNK_SECONDS = 0.5
KILL_AFTER_SECONDS = 3.0  # into the long streams
T = TypeVar("T")


def sessions_started(log: str) -> int:
    """How many sessions a core started, read from its log (core_service/session.py logs each one)."""
    return len(SESSION_STARTED.findall(log))


@dataclass
class PacedSession:
    """A nexa session streamed at the speed of speech; `error_at` is when an error message arrived."""

    messages: list[dict] = field(default_factory=list)
    first_message_at: float | None = None
    error_at: float | None = None
    closed_at: float | None = None

    @property
    def finals(self) -> str:
        return " ".join(m["text"] for m in self.messages if m.get("is_final"))


async def paced_nexa_session(url: str, audio: np.ndarray, deadline_seconds: float = 120.0) -> PacedSession:
    """Send `audio` in 0.5 s chunks at real-time pace, then stop; read until the bridge closes."""
    result = PacedSession()
    pcm = to_pcm16(audio)
    step = int(16000 * CHUNK_SECONDS) * 2

    async def read(ws: websockets.ClientConnection) -> None:
        try:
            async for message in ws:
                payload = json.loads(message)
                result.messages.append(payload)
                if result.first_message_at is None:
                    result.first_message_at = time.monotonic()
                if payload.get("type") == "error" and result.error_at is None:
                    result.error_at = time.monotonic()
        except websockets.ConnectionClosedError:
            pass  # an error close (1011/1013) after the error message

    async with asyncio.timeout(deadline_seconds):
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({}))
            reader = asyncio.create_task(read(ws))
            try:
                for start in range(0, len(pcm), step):
                    if reader.done():
                        break
                    await ws.send(pcm[start:start + step])
                    await asyncio.sleep(CHUNK_SECONDS)
                else:
                    await ws.send(json.dumps({"action": "stop"}))
            except websockets.ConnectionClosed:
                pass
            await reader
        result.closed_at = time.monotonic()
    return result


@dataclass
class GrpcSession:
    """One SDK stream: its finals, or the error that ended it and when."""

    finals: str = ""
    error: Exception | None = None
    ended_at: float = 0.0


async def sdk_session(client, audio: np.ndarray, *, realtime: bool) -> GrpcSession:
    """Stream `audio` through a clients.sdk.RecognizerClient in 0.5 s chunks (at speech pace if `realtime`)."""
    from clients.errors import RecognizerError
    from clients.types import Result, StreamConfig

    pcm = to_pcm16(audio)
    step = int(16000 * CHUNK_SECONDS) * 2

    async def chunks():
        for start in range(0, len(pcm), step):
            yield pcm[start:start + step]
            if realtime:
                await asyncio.sleep(CHUNK_SECONDS)

    result = GrpcSession()
    texts: list[str] = []
    try:
        async for event in client.stream(chunks(), StreamConfig(language="en-US", sample_rate_hertz=16000)):
            if isinstance(event, Result) and event.is_final:
                texts.append(event.text)
    except RecognizerError as exc:
        result.error = exc
    result.finals = " ".join(texts)
    result.ended_at = time.monotonic()
    return result


def start_haproxy(tmp_path: Path, cores: list[str], agent_ports: list[int]) -> tuple[subprocess.Popen, str, Path]:
    """Run deploy/haproxy/haproxy.cfg in front of core addresses; returns (process, address, log path)."""
    port = free_port()
    env = {**os.environ, "ASR_PROXY_BIND": f"127.0.0.1:{port}"}
    for i, (core, agent) in enumerate(zip(cores, agent_ports), start=1):
        env[f"ASR_CORE_{i}"] = core
        env[f"ASR_AGENT_PORT_{i}"] = str(agent)
    log_path = tmp_path / "haproxy.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(["haproxy", "-db", "-f", str(HAPROXY_CONFIG)], env=env, stdout=log_file,
                                stderr=subprocess.STDOUT)
    return proc, f"127.0.0.1:{port}", log_path


def long_speech() -> np.ndarray:
    """The paragraph (~15 s): long enough to be mid-stream when a core is killed."""
    return np.concatenate([silence(0.3), speech(PARAGRAPH), silence(0.5)])


async def kill_first_core_under_two_streams(cores: list, open_stream: Callable[[], Awaitable[T]]) -> tuple[list[T], float]:
    """Open two long streams (round robin puts one on each core), SIGKILL cores[0] under them;
    return each stream's outcome and the monotonic time of the kill."""
    before = [sessions_started(core.log()) for core in cores]
    live = [asyncio.create_task(open_stream()) for _ in range(2)]
    await asyncio.sleep(KILL_AFTER_SECONDS)
    assert [sessions_started(core.log()) - b for core, b in zip(cores, before)] == [1, 1], "one stream per core"
    cores[0].proc.kill()
    killed_at = time.monotonic()
    cores[0].proc.wait(timeout=10)
    return list(await asyncio.gather(*live)), killed_at
