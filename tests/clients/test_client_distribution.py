"""asr-gateway-client as a user gets it: a wheel built from clients/python, installed into a clean
virtual environment with its declared dependencies from the package index, `asr transcribe` run on
a real recording against a real core, and none of the server's dependencies in that environment."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.real_speech import REAL, real_wer

INSTALL_TIMEOUT = 240  # the dependencies (grpcio, protobuf, av, numpy) from the index; cached after once
SERVER_PACKAGES = ("torch", "faster_whisper", "ctranslate2", "onnxruntime", "core_service", "bridges")


def _run(args: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    """A fresh venv holding only the asr-gateway-client wheel and what it declares."""
    work = tmp_path_factory.mktemp("client-dist")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                  "-w", str(work / "dist"), str(ROOT / "clients" / "python")], cwd=work, timeout=120)
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("asr_gateway_client-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    installed = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                      "--disable-pip-version-check", str(wheel)], cwd=work, timeout=INSTALL_TIMEOUT)
    if installed.returncode != 0 and "NewConnectionError" in installed.stderr + installed.stdout:
        pytest.skip(f"the package index is unreachable: {installed.stderr[-500:]}")
    assert installed.returncode == 0, installed.stderr
    return env_dir


def _clean_env() -> dict[str, str]:
    """The user's environment without anything pointing back into this repository or its venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "ASR_SERVER", "ASR_API_KEY")}


def test_wheel_holds_the_sdk_the_stubs_and_no_server_code(client_venv, tmp_path):
    probe = ("import importlib.util, clients, asr.v1.asr_pb2 as pb; "
             f"print(clients.__file__); print([m for m in {SERVER_PACKAGES!r} if importlib.util.find_spec(m)])")
    proc = _run([str(client_venv / "bin" / "python"), "-c", probe], cwd=tmp_path, timeout=60, env=_clean_env())
    assert proc.returncode == 0, proc.stderr
    location, missing = proc.stdout.splitlines()
    assert Path(location).is_relative_to(client_venv), location  # the installed copy, not the repository's
    assert missing == "[]", f"server-side packages importable in the client's venv: {missing}"
    typed = list((client_venv / "lib").glob("python3*/site-packages/clients/py.typed"))
    assert typed, "the wheel should mark the SDK as typed (PEP 561 py.typed)"


def test_asr_console_script_transcribes_real_speech(client_venv, core_address, tmp_path):
    asr = client_venv / "bin" / "asr"
    proc = _run([str(asr), "transcribe", str(REAL / "jfk.flac"), "--server", core_address, "--no-interim"],
                cwd=tmp_path, timeout=60, env=_clean_env())
    assert proc.returncode == 0, proc.stderr
    reference = (REAL / "jfk.txt").read_text()
    assert real_wer(reference, proc.stdout) <= 0.15, proc.stdout
    assert proc.stderr == ""  # not a TTY: no status line, no noise

    listing = _run([str(asr), "engines", "--server", core_address, "--json"], cwd=tmp_path, timeout=60,
                   env=_clean_env())
    assert listing.returncode == 0, listing.stderr
    assert '"engines"' in listing.stdout

    usage = _run([str(asr), "--help"], cwd=tmp_path, timeout=60, env=_clean_env())
    assert usage.returncode == 0 and usage.stdout.startswith("usage: asr "), usage.stdout
