"""Helpers for bridge tests: run `python -m bridges.<name>` as a real subprocess."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

import grpc

from bridges.endings import Ending, ws_close_code
from bridges.faults import CoreError, public_core_error
from tests.conftest import ROOT, free_port

# What a codec is handed when the core cannot be reached: gRPC's words name the core's address.
CORE_DOWN = public_core_error(CoreError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: UNKNOWN: "
                                        "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"),
                              "1a2b3c4d")


def close_of(action: object) -> tuple[int, str] | None:
    """What a WebSocket client sees of a codec's `Ending` action: (close code, reason); None for
    any other action."""
    return (ws_close_code(action), action.reason) if isinstance(action, Ending) else None


@dataclass
class BridgeProcess:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    stop = terminate


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0, what: str = "bridge") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{what} not listening on {port} after {timeout:.0f}s")



def start_bridge(tmp_dir: Path, name: str, core: str, *args: str, port: int | None = None,
                 module: str = "") -> BridgeProcess:
    """`python -m bridges.<name>` (or `module`) on a free loopback port, once it listens."""
    port = port or free_port()
    log_path = tmp_dir / f"bridge-{name}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", module or f"bridges.{name}", "--host", "127.0.0.1", "--port", str(port), "--core", core, *args],
            cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    bridge = BridgeProcess(name, port, proc, log_path)
    try:
        wait_for_port(port, proc)
    except Exception:
        bridge.stop()
        raise RuntimeError(f"bridge {name} failed to start:\n{bridge.log()[-4000:]}")
    return bridge


async def recv_json(ws: websockets.ClientConnection, timeout: float = 60.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str), f"expected a JSON text frame, got {type(message).__name__}"
    return json.loads(message)


async def answered_with_errors(ws: websockets.ClientConnection, field: str,
                               mistakes: list[tuple[str | bytes, str]]) -> None:
    """Send each frame of `mistakes`; each is answered by one error whose `field` holds the words."""
    for frame, words in mistakes:
        await ws.send(frame)
        error = await recv_json(ws)
        assert error["type"] == "error" and words in error[field], (frame[:40], error)


async def recv_all(ws: websockets.ClientConnection, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Every JSON message until the server closes the connection."""
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"server did not close within {timeout}s; got {messages[-5:]}"
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), remaining)))
    except websockets.ConnectionClosed:
        return messages


def assert_words_carry_their_punctuation(text: str, words: list[str]) -> None:
    """A result's words are its text, word by word, each with its own punctuation ("country."):
    no word is punctuation alone, and none is lost."""
    alone = [w for w in words if w.strip() and all(unicodedata.category(c).startswith("P") for c in w.strip())]
    assert words and not alone, (text, words)
    assert "".join("".join(words).split()) == "".join(text.split()), (text, words)


def assert_core_down_wording(text: str, *addresses: str) -> None:
    """The recognition service is unavailable, retry in N s, and the error id: never an address."""
    assert re.search(r"recognition service is unavailable; retry in \d+ s \(error id [0-9a-f]{8}\)", text), text
    for address in ("127.0.0.1", "ipv4:", *addresses):
        assert address not in text, text
