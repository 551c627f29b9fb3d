"""Several hosts made with Linux network namespaces and veth pairs on one switch (a bridge device):
two core hosts, one bridge host, one client host. The nexa bridge balances over both cores with an
ipv4: target; the core process on one host is killed mid-run (tests/deploy/multihost_client.py).

Needs root and iproute2 (`ip netns`); where namespaces cannot be created the test is skipped and
says why. Nothing here is simulated: real processes, real TCP between the namespaces.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.audio_fixtures import PARAGRAPH, UTTERANCES, wer
from tests.balancing_helpers import sessions_started
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SUBNET = "10.77.0"
HOSTS = {"core1": 11, "core2": 12, "bridge": 20, "client": 30}
CORE_PORT = 50051
BRIDGE_PORT = 8080
START_DEADLINE_SECONDS = 180


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def cannot_make_namespaces() -> str | None:
    """Why network namespaces cannot be created here, or None."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"asrprobe{os.getpid()}"
    try:
        ip("netns", "add", probe)
        ip("-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"cannot create a network namespace with a veth pair: {getattr(exc, 'stderr', '') or exc}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass
class Network:
    """Namespaces <prefix>-<host> plus <prefix>-switch holding the bridge device all veths join."""

    prefix: str
    created: list[str] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def build(self) -> None:
        switch = self.ns("switch")
        ip("netns", "add", switch)
        self.created.append(switch)
        ip("-n", switch, "link", "add", "sw0", "type", "bridge")
        ip("-n", switch, "link", "set", "sw0", "up")
        for host, octet in HOSTS.items():
            ns = self.ns(host)
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"to-{host}", "netns", switch)
            ip("-n", switch, "link", "set", f"to-{host}", "master", "sw0", "up")
            ip("-n", ns, "addr", "add", f"{SUBNET}.{octet}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def run(self, host: str, args: list[str], log_path: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASR_FINAL_SHARE_BUDGET": "1000", "ASR_FINAL_WAIT_BUDGET": "1000"}
        with open(log_path, "wb") as log_file:
            return subprocess.Popen(["ip", "netns", "exec", self.ns(host), sys.executable, *args], cwd=ROOT,
                                    stdout=log_file, stderr=subprocess.STDOUT, env=env)

    def destroy(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def wait_for_line(log_path: Path, needle: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if needle in log_path.read_text(errors="replace"):
            return
        assert proc.poll() is None, f"{log_path.name} exited:\n{log_path.read_text(errors='replace')[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in {log_path.name} after {START_DEADLINE_SECONDS} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_streams_from_the_client_host_survive_a_core_host_losing_its_core(tmp_path):
    reason = cannot_make_namespaces()
    if reason is not None:
        pytest.skip(f"multi-host test needs network namespaces: {reason}")
    network = Network(f"asr{os.getpid() % 100000}")
    procs: dict[str, subprocess.Popen] = {}
    logs = {name: tmp_path / f"{name}.log" for name in ("core1", "core2", "bridge", "client")}
    try:
        network.build()
        for core in ("core1", "core2"):
            address = f"{SUBNET}.{HOSTS[core]}"
            procs[core] = network.run(core, ["-m", "core_service", "--host", address, "--port", str(CORE_PORT),
                                             "--max-sessions", "8"], logs[core])
        for core in ("core1", "core2"):
            wait_for_line(logs[core], "ready: asr.v1.RecognizerService", procs[core])
        target = "ipv4:" + ",".join(f"{SUBNET}.{HOSTS[c]}:{CORE_PORT}" for c in ("core1", "core2"))
        procs["bridge"] = network.run("bridge", ["-m", "bridges.nexa", "--host", f"{SUBNET}.{HOSTS['bridge']}",
                                                 "--port", str(BRIDGE_PORT), "--core", target], logs["bridge"])
        wait_for_line(logs["bridge"], "listening on", procs["bridge"])

        url = f"ws://{SUBNET}.{HOSTS['bridge']}:{BRIDGE_PORT}/v1/audio/stream"
        client = network.run("client", ["-m", "tests.deploy.multihost_client", url, str(procs["core1"].pid)],
                             logs["client"])
        procs["client"] = client
        client.wait(timeout=240)
        output = logs["client"].read_text(errors="replace")
        assert client.returncode == 0, output[-3000:]
        report = json.loads(output.strip().splitlines()[-1])

        assert procs["core1"].poll() is not None, "core1 was killed"
        assert sessions_started(logs["core1"].read_text()) == 1 and sessions_started(logs["core2"].read_text()) >= 1, \
            "the two long streams are spread over both cores"
        failed = [s for s in report["ongoing"] if s["error_after"] is not None]
        survived = [s for s in report["ongoing"] if s["error_after"] is None]
        assert len(failed) == 1 and len(survived) == 1, report["ongoing"]
        error = next(m for m in failed[0]["messages"] if m["type"] == "error")
        assert "unavailable" in error["error"], error
        finals = " ".join(m["text"] for m in survived[0]["messages"] if m.get("is_final"))
        assert wer(PARAGRAPH, finals) <= 0.2, survived[0]
        for later in report["later"]:  # started from the moment of the kill on, every one served
            assert not [m for m in later["messages"] if m["type"] == "error"], later
            finals = " ".join(m["text"] for m in later["messages"] if m.get("is_final"))
            assert wer(UTTERANCES[0], finals) <= 0.15, later
        print(f"first stream after the kill started {report['later'][0]['started']:.2f} s after it and got its "
              f"first result {report['later'][0]['first_message']:.2f} s after it; the stream on the killed core "
              f"got its error {failed[0]['error_after']:.2f} s after it")
    finally:
        for proc in procs.values():
            stop(proc)
        network.destroy()
