"""Audio files with known speech, written in several formats, and a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from clients.audio import write_audio
from tests.audio_fixtures import PARAGRAPH, UTTERANCES, silence, speech, with_pauses
from tests.conftest import ROOT


@dataclass
class Clip:
    path: Path
    text: str
    seconds: float


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client-audio")


def _clip(directory: Path, name: str, text: str, samples: np.ndarray) -> Clip:
    return Clip(write_audio(directory / name, samples), text, len(samples) / 16000)


@pytest.fixture(scope="session")
def paragraph_samples() -> np.ndarray:
    return np.concatenate([silence(0.3), speech(PARAGRAPH), silence(0.5)])


@pytest.fixture(scope="session")
def paragraph_mp3(audio_dir, paragraph_samples) -> Clip:
    return _clip(audio_dir, "paragraph.mp3", PARAGRAPH, paragraph_samples)


@pytest.fixture(scope="session")
def paragraph_flac(audio_dir, paragraph_samples) -> Clip:
    return _clip(audio_dir, "paragraph.flac", PARAGRAPH, paragraph_samples)


@pytest.fixture(scope="session")
def utterances_samples() -> np.ndarray:
    return with_pauses(UTTERANCES[:2], pause=1.0, lead=0.3)[0]


@pytest.fixture(scope="session", params=["wav", "ogg"])
def utterances_file(request, audio_dir, utterances_samples) -> Clip:
    return _clip(audio_dir, f"utterances.{request.param}", " ".join(UTTERANCES[:2]), utterances_samples)


@pytest.fixture(scope="session")
def sentence_wav(audio_dir) -> Clip:
    """One long sentence (about 5 s): time for several partials even on a busy machine."""
    text = PARAGRAPH.split(". ")[1] + "."
    return _clip(audio_dir, "sentence.wav", text, np.concatenate([silence(0.2), speech(text), silence(0.3)]))


@pytest.fixture(scope="session")
def short_wav(audio_dir) -> Clip:
    text = UTTERANCES[2]
    return _clip(audio_dir, "short.wav", text, np.concatenate([silence(0.2), speech(text), silence(0.3)]))


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    """`python -m clients.cli ARGS` in a subprocess, text output captured."""
    full_env = {k: v for k, v in os.environ.items() if k != "ASR_SERVER"} | (env or {})
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        cwd=ROOT, env=full_env, text=True, timeout=timeout, **kw,
    )


# ---- the clients in other languages (tests/clients/compiled.py) ------------------------------
@dataclass
class SecureCore:
    """A core that needs TLS (a CA of the test's own) and an API key (security_helpers.WEB)."""

    address: str
    ca: Path
    key: str


@pytest.fixture(scope="session")
def secure_core(tmp_path_factory) -> SecureCore:
    """One TLS core with API keys, shared by the Node, Go and C++ client tests."""
    from tests.security_helpers import KEYS_TOML, WEB, client_credentials, make_pki, start_secure_core

    directory = tmp_path_factory.mktemp("secure-core")
    pki = make_pki(directory)
    keys = directory / "keys.toml"
    keys.write_text(KEYS_TOML)
    core = start_secure_core(directory, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                             "--api-keys", str(keys), credentials=client_credentials(pki))
    yield SecureCore(core.address, pki.ca, WEB)
    core.stop()


@pytest.fixture(scope="session")
def jfk_wav(audio_dir) -> Path:
    from tests.clients.compiled import write_jfk_wav

    return write_jfk_wav(audio_dir)
