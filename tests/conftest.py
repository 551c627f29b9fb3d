"""Shared fixtures: a real core server process on a free loopback port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(address: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server at {address} exited with {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"core at {address} not healthy after {timeout}s")


@dataclass
class CoreProcess:
    address: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_core(tmp_dir: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None) -> CoreProcess:
    """Start `python -m core_service` with extra flags and wait until it is SERVING."""
    core = launch_core(tmp_dir, *args, port=port, env=env)
    try:
        wait_for_health(core.address, proc=core.proc)
    except Exception:
        core.stop()
        raise RuntimeError(f"core failed to start:\n{core.log()[-4000:]}")
    return core


def launch_core(tmp_dir: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None) -> CoreProcess:
    """Start `python -m core_service` with extra flags; return at once (it is not listening yet)."""
    port = port or free_port()
    address = f"127.0.0.1:{port}"
    log_path = tmp_dir / f"core-{port}.log"
    # Tests stream audio many times faster than real time, which capacity-based admission would
    # rightly read as overload; it has its own test (tests/core/test_errors.py), so test cores
    # only keep the hard --max-sessions cap. A flag passed in `args` still overrides this.
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASR_FINAL_SHARE_BUDGET": "1000",
                "ASR_FINAL_WAIT_BUDGET": "1000", **(env or {})}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core_service", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=full_env,
        )
    return CoreProcess(address, proc, log_path)


@pytest.fixture(scope="session")
def core(tmp_path_factory) -> CoreProcess:
    """One shared core on the default engine (faster-whisper tiny.en), for the whole test run."""
    proc = start_core(tmp_path_factory.mktemp("core"), "--max-sessions", "32")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def core_address(core) -> str:
    return core.address
