"""The API keys file (asr_common/api_keys.py): one TOML format for the core and every bridge."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from asr_common.api_keys import KeyRing, KeysFileError, parse_keys, presented_secret
from tests.conftest import ROOT, free_port
from tests.security_helpers import GOOGLE_ONLY, KEYS_TOML, SOLO, WEB


def test_keys_by_secret_and_by_sha256_with_their_limits():
    keys = {k.name: k for k in parse_keys(KEYS_TOML)}
    ring = KeyRing(tuple(keys.values()))
    assert ring.find(WEB).name == "web" and keys["web"].max_sessions is None and keys["web"].engines is None
    assert ring.find(SOLO).max_sessions == 1
    assert ring.find(GOOGLE_ONLY).name == "google-only" and keys["google-only"].engines == ("google",)
    assert keys["short"].max_stream_seconds == 1.0
    assert ring.find("not-a-key-at-all") is None and ring.find("") is None and ring.find(None) is None


def test_the_secret_itself_is_not_kept():
    [key] = parse_keys('[[key]]\nname = "a"\nsecret = "abcdefgh-secret"\n')
    assert key.sha256 == hashlib.sha256(b"abcdefgh-secret").digest()
    assert "abcdefgh-secret" not in repr(key)


@pytest.mark.parametrize("text, line, needle", [
    ('[[key]]\nname = "a"\nsecret = "abcdefgh"\n\n[[key]]\nname = "b"\nsecret = \n', 7, "not valid TOML"),
    ('[[key]]\nname = "a"\nsecret = "abcdefgh"\n\n[[key]]\nname = "b"\n', 5, "exactly one of `secret` or `sha256`"),
    ('[[key]]\nname = "a"\nsha256 = "abc"\n', 1, "64 hex digits"),
    ('[[key]]\nname = "a"\nsecret = "abcdefgh"\nmax_sessions = 0\n', 1, "max_sessions"),
    ('\n\n[[key]]\nname = "a"\nsecret = "abcdefgh"\nengine = ["whisper"]\n', 3, "unknown field"),
    ('[[key]]\nname = "a"\nsecret = "abcdefgh"\n[[key]]\nname = "a"\nsecret = "ijklmnop"\n', 4, "second key named"),
])
def test_a_malformed_file_is_refused_naming_the_line(text, line, needle):
    with pytest.raises(KeysFileError) as info:
        parse_keys(text, "keys.toml")
    assert f"keys.toml:{line}" in str(info.value) or f"line {line}" in str(info.value), info.value
    assert needle in str(info.value)


def test_reload_with_a_broken_file_keeps_the_previous_keys(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text(KEYS_TOML)
    ring = KeyRing.load(path)
    path.write_text("[[key]]\nname = 'x'\n")
    assert ring.reload() is False
    assert ring.find(WEB) is not None
    path.write_text('[[key]]\nname = "only"\nsecret = "only-secret-1"\n')
    assert ring.reload() is True
    assert ring.find(WEB) is None and ring.find("only-secret-1").name == "only"


def test_presented_secret_reads_bearer_then_x_api_key_then_query():
    assert presented_secret("Bearer abc", "def", "ghi") == "abc"
    assert presented_secret("bearer  abc ") == "abc"
    assert presented_secret("Token abc", "def") == "abc"  # Deepgram's scheme
    assert presented_secret("Basic abc", "def") == "def"
    assert presented_secret(None, None, "ghi") == "ghi"
    assert presented_secret(None) is None


@pytest.mark.parametrize("program", [["core_service"], ["bridges.nexa"]])
def test_a_malformed_file_stops_start_up_naming_the_line(tmp_path, program):
    path = tmp_path / "keys.toml"
    path.write_text('[[key]]\nname = "a"\nsecret = "abcdefgh"\n\n[[key]]\nsecret = "ijklmnop"\n')
    done = subprocess.run([sys.executable, "-m", *program, "--port", str(free_port()), "--api-keys", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"{path}:5" in done.stderr and "needs a non-empty `name`" in done.stderr, done.stderr
