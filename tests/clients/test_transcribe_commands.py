"""The transcribe commands of the Node, Go and C++ clients, each built from the generated stubs,
held to the same documented behaviour against a real core with real speech
(tests/clients/cli_checks.py; each client's own features are in test_<language>_client.py)."""
from __future__ import annotations

import pytest

from tests.clients import cli_checks as checks
from tests.clients.compiled import TRANSCRIBE_COMMANDS, build


@pytest.fixture(scope="module", params=sorted(TRANSCRIBE_COMMANDS))
def cli(request) -> list[str]:
    toolchain, command = TRANSCRIBE_COMMANDS[request.param]
    build(toolchain)
    return command


def test_a_wav_file_is_transcribed_within_the_wer_bound(cli, core_address, jfk_wav):
    checks.transcribes_a_wav_file(cli, core_address, jfk_wav)


def test_a_wav_on_stdin_is_read_from_its_header(cli, core_address, jfk_wav):
    checks.reads_a_wav_from_stdin(cli, core_address, jfk_wav)


def test_raw_pcm_on_stdin_in_real_time_gives_partials_then_finals(cli, core_address):
    checks.streams_raw_pcm_in_real_time_with_partials_then_finals(cli, core_address)


def test_an_api_key_over_tls_is_accepted(cli, secure_core, jfk_wav):
    checks.an_api_key_over_tls_is_accepted(cli, secure_core, jfk_wav)


def test_a_refused_key_gives_unauthenticated_and_says_what_to_do(cli, secure_core, jfk_wav):
    checks.a_refused_key_gives_unauthenticated(cli, secure_core, jfk_wav)


def test_a_tls_server_not_trusted_is_unreachable(cli, secure_core, jfk_wav):
    checks.an_untrusted_tls_server_is_unreachable(cli, secure_core, jfk_wav)


def test_bad_usage_and_unreadable_audio_exit_2_before_connecting(cli, tmp_path):
    checks.bad_usage_and_unreadable_audio_exit_2(cli, tmp_path)
