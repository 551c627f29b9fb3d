"""A live stack for the robustness benches: one core and the five bridges as subprocesses, with
their logs in files, process figures (RSS, open files, threads) and log checks."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import grpc
import psutil

from asr.v1 import asr_pb2, asr_pb2_grpc
from bench.common import save
from bridges import dialects

from tests.bridges.bridge_helpers import wait_for_port
from tests.bridges.dialect_drivers import DIALECTS
from tests.conftest import ROOT, free_port, wait_for_health

# Limits opened wide so the benches measure robustness, not refusals (one client address).
BRIDGE_FLAGS = ("--max-connections", "2000", "--max-connections-per-client", "2000")


def dialect_flags(name: str) -> tuple[str, ...]:
    """The test driver's flags for the dialect, with its own session cap opened as wide."""
    driver = DIALECTS[name]
    wide = (driver.capacity_flag, BRIDGE_FLAGS[1]) if driver.capacity_flag else ()
    return (*driver.extra_flags, *wide)


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    log_path: Path
    port: int

    def figures(self) -> dict[str, float]:
        p = psutil.Process(self.proc.pid)
        return {"rss_mb": round(p.memory_info().rss / 2**20, 1), "fds": p.num_fds(), "threads": p.num_threads()}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Stack:
    core: Process
    bridges: dict[str, Process]
    workdir: Path
    extra: list[Process] = field(default_factory=list)

    @property
    def processes(self) -> list[Process]:
        return [self.core, *self.bridges.values()]

    def figures(self) -> dict[str, dict[str, float]]:
        return {p.name: p.figures() for p in self.processes if p.alive()}

    def crashes(self) -> list[str]:
        return [f"{p.name} exited {p.proc.returncode}" for p in self.processes if not p.alive()]

    def tracebacks(self) -> dict[str, int]:
        return {p.name: p.log().count("Traceback") for p in self.processes}

    async def leaked_core_slots(self, max_sessions: int) -> int:
        """Session slots still held in the core: open `max_sessions` streams and count refusals."""
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.core.port}") as channel:
            stub = asr_pb2_grpc.RecognizerServiceStub(channel)
            calls = [stub.Recognize() for _ in range(max_sessions)]

            async def admitted(call) -> bool:
                try:
                    await call.write(asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig()))
                    response = await asyncio.wait_for(call.read(), 30)
                    return response is not grpc.aio.EOF and response.HasField("session_started")
                except (grpc.aio.AioRpcError, asyncio.InvalidStateError, asyncio.TimeoutError):
                    return False

            results = await asyncio.gather(*(admitted(c) for c in calls))
            for call in calls:
                call.cancel()
            return max_sessions - sum(results)

    def open_bridge_sessions(self) -> int:
        total = 0
        for bridge in self.bridges.values():
            log = bridge.log()
            total += log.count("session_start ") - log.count("session_end ")
        return total

    def stop(self) -> None:
        for p in self.processes:
            if p.alive():
                p.proc.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.proc.kill()


async def health(stack: Stack, max_sessions: int) -> dict:
    """What must be zero after a bench: crashes, tracebacks, sessions and slots still held."""
    return {"crashes": stack.crashes(), "tracebacks": stack.tracebacks(),
            "bridge_sessions_open": stack.open_bridge_sessions(),
            "core_slots_leaked": await stack.leaked_core_slots(max_sessions)}


def run_bench(name: str, doc: str, count: tuple[str, int, str], concurrency: int, warmup: int,
              bench: Callable[[Stack, argparse.Namespace], Awaitable[dict]], max_sessions: int) -> None:
    """Parse the shared flags plus the bench's count flag, start the stack (core with
    --max-sessions), run the bench, stop, print and save its figures."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    flag, default, help_text = count
    parser.add_argument(flag, type=int, default=default, help=help_text)
    parser.add_argument("--concurrency", type=int, default=concurrency, help="sessions at a time")
    parser.add_argument("--warmup", type=int, default=warmup, help="sessions before the first process figures")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    stack = start_stack(core_args=("--max-sessions", str(max_sessions)))
    try:
        result = asyncio.run(bench(stack, args))
    finally:
        stack.stop()
    print(json.dumps(result, indent=2))
    print(f"logs: {stack.workdir}")
    print(f"saved {save(name, result)}")


def start_stack(core_args: tuple[str, ...] = (), bridge_args: tuple[str, ...] = ()) -> Stack:
    workdir = Path(tempfile.mkdtemp(prefix="asr-stack-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASR_FINAL_SHARE_BUDGET": "1000", "ASR_FINAL_WAIT_BUDGET": "1000"}
    core_port = free_port()
    core = _spawn("core", [sys.executable, "-m", "core_service", "--host", "127.0.0.1", "--port", str(core_port),
                           *core_args], workdir, env, core_port)
    wait_for_health(f"127.0.0.1:{core_port}", proc=core.proc)
    bridges = {}
    for name in (spec.name for spec in dialects.installed() if spec.name in DIALECTS):
        port = free_port()
        bridges[name] = _spawn(name, [sys.executable, "-m", f"bridges.{name}", "--host", "127.0.0.1", "--port",
                                      str(port), "--core", f"127.0.0.1:{core_port}", *BRIDGE_FLAGS,
                                      *dialect_flags(name), *bridge_args], workdir, env, port)
    for bridge in bridges.values():
        wait_for_port(bridge.port, bridge.proc)
    return Stack(core, bridges, workdir)


def _spawn(name: str, cmd: list[str], workdir: Path, env: dict[str, str], port: int) -> Process:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    return Process(name, proc, log_path, port)
