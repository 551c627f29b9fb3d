"""The C++ client (clients/cpp): `engines` and `transcribe` built by `make cpp-client` from the
generated stubs and Debian's gRPC C++, against a real core with real speech (its transcribe
command's checks, shared with Node and Go: tests/clients/test_transcribe_commands.py)."""
from __future__ import annotations

import json

import pytest

from tests.clients.compiled import CPP, build, run_client

ENGINES = "build/cpp/engines"


@pytest.fixture(scope="module", autouse=True)
def cpp_client() -> None:
    build(CPP)


def test_engines_lists_the_servers_engines_as_json(core_address):
    done = run_client([ENGINES, "--server", core_address, "--json"])
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["defaultEngine"] == "whisper"
    whisper = next(e for e in listing["engines"] if e["name"] == "whisper")
    assert whisper["available"] and {"tiny.en", "base"} <= {m["name"] for m in whisper["models"]}


def test_engines_needs_the_key_of_a_keyed_server(secure_core):
    done = run_client([ENGINES, "--server", secure_core.address, "--ca", str(secure_core.ca)])
    assert done.returncode == 4 and "UNAUTHENTICATED" in done.stderr, done.stderr
    keyed = run_client([ENGINES, "--server", secure_core.address, "--ca", str(secure_core.ca),
                        "--api-key", secure_core.key])
    assert keyed.returncode == 0 and "whisper (default)" in keyed.stdout, keyed.stderr
