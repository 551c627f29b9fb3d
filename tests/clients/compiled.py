"""The clients in other languages (clients/node, clients/go, clients/cpp) as their tests use them:
built with the Makefile's own targets, run as a user runs them, with real speech from
tests/fixtures/real (JFK, 11 s) and a core that needs TLS and an API key.

A client whose toolchain is not installed is skipped with the command that installs it, except
under CI (CI=true), where .ci/run installs every toolchain first: there a missing one fails.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.real_speech import REAL, load, real_wer

BUILD_TIMEOUT = 900.0  # seconds: a first C++ build of the generated stubs on two busy cores
RUN_TIMEOUT = 180.0  # seconds for one client run (the clients get their own --timeout below this)
JFK = load("jfk")


@dataclass(frozen=True)
class Toolchain:
    language: str
    make_target: str
    commands: tuple[str, ...]  # what must be on PATH to build it
    installs: str  # how .ci/run installs what is missing
    files: tuple[str, ...] = ()  # libraries it builds against, by one file of each


def build(toolchain: Toolchain) -> None:
    """`make TARGET` (a no-op when up to date); skip or, under CI, fail when the toolchain is absent."""
    missing = [c for c in toolchain.commands if shutil.which(c) is None]
    missing += [f for f in toolchain.files if not Path(f).exists()]
    if missing:
        message = (f"the {toolchain.language} client is not tested: {', '.join(missing)} not installed "
                   f"({toolchain.installs}, as .ci/run does)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(["make", "-s", toolchain.make_target], cwd=ROOT, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    assert done.returncode == 0, f"make {toolchain.make_target} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def run_client(argv: list[str], *, stdin: bytes | None = None, env: dict[str, str] | None = None,
               timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a client command with text output captured; $ASR_SERVER and $ASR_API_KEY only from `env`."""
    quiet_npm = {"NPM_CONFIG_UPDATE_NOTIFIER": "false", "NPM_CONFIG_FUND": "false"}  # nothing of npm's own on stderr
    full_env = {k: v for k, v in os.environ.items() if k not in ("ASR_SERVER", "ASR_API_KEY")} | quiet_npm | (env or {})
    done = subprocess.run(argv, cwd=ROOT, input=stdin, capture_output=True, env=full_env, timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


def write_jfk_wav(directory: Path) -> Path:
    """JFK's 11 s as a 16 kHz mono 16-bit WAV (the recording is committed as FLAC)."""
    import soundfile

    path = directory / "jfk.wav"
    soundfile.write(path, soundfile.read(REAL / "jfk.flac", dtype="int16")[0], 16000, subtype="PCM_16")
    return path


def jfk_pcm16() -> bytes:
    """JFK as headerless 16 kHz mono s16le."""
    import soundfile

    return soundfile.read(REAL / "jfk.flac", dtype="int16")[0].tobytes()


def jfk_wer(text: str) -> float:
    return real_wer(JFK.transcript, text)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def assert_partials_then_finals(lines: list[dict]) -> list[dict]:
    """Every segment's partials come before its final, at least one partial came, and the summary is
    last; returns the finals."""
    results = [o for o in lines if o["type"] == "result"]
    finalized: set[int] = set()
    for o in results:
        assert o["segment_id"] not in finalized, f"segment {o['segment_id']} changed after its final: {o}"
        if o["is_final"]:
            finalized.add(o["segment_id"])
    assert any(not o["is_final"] for o in results), f"no partial result in {len(results)} results"
    assert lines[-1]["type"] == "summary", lines[-1]
    finals = [o for o in results if o["is_final"]]
    assert finals and lines[-1]["segment_count"] == len(finals), lines[-1]
    return finals


# The three compiled clients and their transcribe commands: each module tests what is its own,
# test_transcribe_commands.py runs the shared checks (cli_checks.py) for all three.
NODE = Toolchain("Node", "node-client", ("node", "npm"), "bash .ci/install_client_toolchains installs node and npm")
NODE_CLI = ["node", "clients/node/bin/asr-transcribe.js"]
GO = Toolchain("Go", "go-client", ("go", "protoc-gen-go", "protoc-gen-go-grpc"),
               "bash .ci/install_client_toolchains installs golang-go, protoc-gen-go(-grpc) and the Go libraries",
               files=("/usr/share/gocode/src/google.golang.org/grpc/clientconn.go",
                      "/usr/share/gocode/src/google.golang.org/genproto/googleapis/rpc/errdetails",
                      "/usr/share/gocode/src/github.com/golang/protobuf/proto/wrappers.go"))  # the 1.5 API: 1.3 has none
GO_CLI = ["build/go/bin/transcribe"]
CPP = Toolchain("C++", "cpp-client", ("cmake", "g++", "pkg-config", "protoc", "grpc_cpp_plugin"),
                "bash .ci/install_client_toolchains installs protobuf-compiler(-grpc), libgrpc++-dev and cmake",
                files=("/usr/include/grpcpp/grpcpp.h", "/usr/include/google/protobuf/message.h"))
CPP_CLI = ["build/cpp/transcribe"]
TRANSCRIBE_COMMANDS: dict[str, tuple[Toolchain, list[str]]] = {"node": (NODE, NODE_CLI), "go": (GO, GO_CLI), "cpp": (CPP, CPP_CLI)}
