"""What every compiled client's transcribe command does, as one check per documented behaviour
(docs/clients.md). The Node, Go and C++ commands take the same flags (`--server`, `--ca`, ...; Go's
flag package reads `--flag` as `-flag`), so each language's test module runs these on its own command.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.compiled import assert_partials_then_finals, jfk_pcm16, jfk_wer, json_lines, run_client

# JFK sent as fast as possible is transcribed with accurate segmentation: offline Whisper's text,
# word for word (tests/clients/test_cli.py); one word of 22 is the margin.
ACCURATE_WER = 0.05
# Live segmentation cuts at JFK's pauses: "And so am I fellow Americans" (3 errors of 22).
LIVE_WER = 0.25


def transcribes_a_wav_file(cli: list[str], address: str, wav: Path) -> None:
    done = run_client([*cli, str(wav), "--server", address, "--timeout", "120"])
    assert done.returncode == 0, done.stderr
    assert jfk_wer(done.stdout) <= ACCURATE_WER, done.stdout
    assert done.stderr == ""  # stderr is not a terminal: no status line, no noise


def reads_a_wav_from_stdin(cli: list[str], address: str, wav: Path) -> None:
    done = run_client([*cli, "-", "--server", address, "--timeout", "120"], stdin=wav.read_bytes())
    assert done.returncode == 0, done.stderr
    assert jfk_wer(done.stdout) <= ACCURATE_WER, done.stdout


def streams_raw_pcm_in_real_time_with_partials_then_finals(cli: list[str], address: str) -> None:
    done = run_client([*cli, "-", "--raw", "--rate", "16000", "--realtime", "--json", "--server", address,
                       "--timeout", "120"], stdin=jfk_pcm16())
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    finals = assert_partials_then_finals(lines)
    assert jfk_wer(" ".join(f["text"] for f in finals)) <= LIVE_WER, finals
    assert {"segment_id", "text", "is_final", "start", "end", "stability", "words", "language"} <= lines[0].keys()
    assert lines[-1]["audio_processed"] == pytest.approx(11.0, abs=0.1)


def an_api_key_over_tls_is_accepted(cli: list[str], secure_core, wav: Path) -> None:
    done = run_client([*cli, str(wav), "--server", secure_core.address, "--ca", str(secure_core.ca),
                       "--timeout", "120"], env={"ASR_API_KEY": secure_core.key})
    assert done.returncode == 0, done.stderr
    assert jfk_wer(done.stdout) <= ACCURATE_WER, done.stdout


def a_refused_key_gives_unauthenticated(cli: list[str], secure_core, wav: Path) -> None:
    for key in (["--api-key", "not-a-key"], []):
        done = run_client([*cli, str(wav), "--server", secure_core.address, "--ca", str(secure_core.ca),
                           "--timeout", "30", *key])
        assert done.returncode == 4, (key, done.stderr)
        assert "UNAUTHENTICATED" in done.stderr and "api-key" in done.stderr, done.stderr
        assert done.stdout == ""


def an_untrusted_tls_server_is_unreachable(cli: list[str], secure_core, wav: Path) -> None:
    # --tls trusts the system's CAs, which do not know the test's CA; plaintext gets no TLS handshake
    for flags in (["--tls"], []):
        done = run_client([*cli, str(wav), "--server", secure_core.address, "--api-key", secure_core.key,
                           "--timeout", "30", *flags])
        assert done.returncode == 3, (flags, done.stderr)
        assert f"cannot reach the ASR server at {secure_core.address}" in done.stderr, done.stderr


def bad_usage_and_unreadable_audio_exit_2(cli: list[str], directory: Path) -> None:
    not_wav = directory / "notes.txt"
    not_wav.write_text("hello")
    for args, words in (([str(directory / "missing.wav")], "no such file"), ([str(not_wav)], "not a WAV file"),
                        (["-", "--segmentation", "sometimes"], "segmentation takes live or accurate")):
        done = run_client([*cli, *args, "--server", "127.0.0.1:1"], stdin=b"")
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr, done.stderr
