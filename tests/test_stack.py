"""`make run` starts the core and all five bridges, and stops them all on SIGTERM."""
from __future__ import annotations

import asyncio
import random
import signal
import socket
import subprocess
import sys

import websockets

from core_service.stack import BRIDGES
from tests.conftest import ROOT, free_port, wait_for_health


def _free_offset() -> int:
    for _ in range(50):
        offset = random.randint(20000, 40000)
        ok = True
        for b in BRIDGES:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", b.port + offset))
                except OSError:
                    ok = False
        if ok:
            return offset
    raise RuntimeError("no free port range")


async def _probe(port: int, path: str) -> None:
    path = path.replace("{client_id}", "stack-probe")
    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", open_timeout=10) as ws:
        await ws.ping()


def test_stack_starts_core_and_every_bridge_then_stops_cleanly(tmp_path):
    core_port, offset = free_port(), _free_offset()
    log = open(tmp_path / "stack.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "core_service.stack", "--host", "127.0.0.1",
                             "--core-port", str(core_port), "--port-offset", str(offset)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"127.0.0.1:{core_port}", proc=proc)

        async def probe_all():
            for b in BRIDGES:
                for attempt in range(100):
                    try:
                        await _probe(b.port + offset, b.path)
                        break
                    except (OSError, websockets.exceptions.InvalidHandshake, asyncio.TimeoutError):
                        await asyncio.sleep(0.2)
                else:
                    raise AssertionError(f"bridge {b.name} never answered on {b.port + offset}")

        asyncio.run(probe_all())
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
    text = (tmp_path / "stack.log").read_text(errors="replace")
    assert code == 0, text[-3000:]
    for b in BRIDGES:
        assert b.name in text
