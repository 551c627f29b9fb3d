"""The C++ client (clients/cpp): `engines` and `transcribe` built by `make cpp-client` from the
generated stubs and Debian's gRPC C++, against a real core with real speech (the transcribe checks
are shared with the Node and Go clients: tests/clients/cli_checks.py)."""
from __future__ import annotations

import json

import pytest

from tests.clients import cli_checks as checks
from tests.clients.compiled import Toolchain, build, run_client

CPP = Toolchain("C++", "cpp-client", ("cmake", "g++", "pkg-config", "protoc", "grpc_cpp_plugin"),
                "bash .ci/install_client_toolchains installs protobuf-compiler(-grpc), libgrpc++-dev and cmake",
                files=("/usr/include/grpcpp/grpcpp.h", "/usr/include/google/protobuf/message.h"))
CLI = ["build/cpp/transcribe"]
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


def test_a_wav_file_is_transcribed_within_the_wer_bound(core_address, jfk_wav):
    checks.transcribes_a_wav_file(CLI, core_address, jfk_wav)


def test_a_wav_on_stdin_is_read_from_its_header(core_address, jfk_wav):
    checks.reads_a_wav_from_stdin(CLI, core_address, jfk_wav)


def test_raw_pcm_on_stdin_in_real_time_gives_partials_then_finals(core_address):
    checks.streams_raw_pcm_in_real_time_with_partials_then_finals(CLI, core_address)


def test_an_api_key_over_tls_is_accepted(secure_core, jfk_wav):
    checks.an_api_key_over_tls_is_accepted(CLI, secure_core, jfk_wav)


def test_a_refused_key_gives_unauthenticated_and_says_what_to_do(secure_core, jfk_wav):
    checks.a_refused_key_gives_unauthenticated(CLI, secure_core, jfk_wav)


def test_a_tls_server_not_trusted_is_unreachable(secure_core, jfk_wav):
    checks.an_untrusted_tls_server_is_unreachable(CLI, secure_core, jfk_wav)


def test_bad_usage_and_unreadable_audio_exit_2_before_connecting(tmp_path):
    checks.bad_usage_and_unreadable_audio_exit_2(CLI, tmp_path)
