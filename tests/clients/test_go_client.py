"""The Go client (clients/go): the `transcribe` command built by `make go-client` from the
generated stubs and Debian's Go gRPC, against a real core with real speech (the checks are
shared with the Node and C++ clients: tests/clients/cli_checks.py)."""
from __future__ import annotations

import pytest

from tests.clients import cli_checks as checks
from tests.clients.compiled import Toolchain, build

GO = Toolchain("Go", "go-client", ("go", "protoc-gen-go", "protoc-gen-go-grpc"),
               "bash .ci/install_client_toolchains installs golang-go, protoc-gen-go(-grpc) and the Go libraries",
               files=("/usr/share/gocode/src/google.golang.org/grpc/clientconn.go",
                      "/usr/share/gocode/src/google.golang.org/genproto/googleapis/rpc/errdetails",
                      "/usr/share/gocode/src/github.com/golang/protobuf/proto/wrappers.go"))  # the 1.5 API: 1.3 has none
CLI = ["build/go/bin/transcribe"]


@pytest.fixture(scope="module", autouse=True)
def go_client() -> None:
    build(GO)


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
