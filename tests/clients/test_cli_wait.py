"""The CLI waits for a core that is starting (listening, models still loading: health NOT_SERVING,
so the balanced channel finds no healthy core and the SDK reads busy, retry later); `--no-wait`
fails at once with that status. Real core, real speech, in the second after the core listens.

The CLI runs in this process (`clients.cli.main`), started as soon as the core logs that it
listens: a CLI subprocess would spend most of the core's ~1.5 s loading window importing.
"""
from __future__ import annotations

import time

import pytest

from clients.cli import EXIT_OK, EXIT_REJECTED, main
from tests.conftest import CoreProcess, launch_core
from tests.real_speech import REAL, real_wer

LISTEN_TIMEOUT = 60.0


def wait_until_listening(core: CoreProcess) -> None:
    """Return as soon as the core says it listens (it then loads and warms its models)."""
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while "listening on" not in core.log():
        if core.proc.poll() is not None:
            raise RuntimeError(f"core exited with {core.proc.returncode}:\n{core.log()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"core not listening after {LISTEN_TIMEOUT:.0f} s:\n{core.log()[-2000:]}")
        time.sleep(0.01)
    assert "ready:" not in core.log(), "the core was ready before the CLI could try: nothing to wait for"


@pytest.fixture
def starting_core(tmp_path) -> CoreProcess:
    core = launch_core(tmp_path, "--max-sessions", "4")
    yield core
    core.stop()


def test_no_wait_fails_fast_then_the_cli_waits_for_the_starting_core(starting_core, capsys):
    wait_until_listening(starting_core)
    args = ["transcribe", str(REAL / "jfk.flac"), "--server", starting_core.address, "--no-interim"]

    start = time.monotonic()
    assert main([*args, "--no-wait"]) == EXIT_REJECTED
    refused = capsys.readouterr()
    assert time.monotonic() - start < 5.0
    assert "RESOURCE_EXHAUSTED" in refused.err and "try again in 5 s" in refused.err, refused.err
    assert refused.out == ""
    assert "ready:" not in starting_core.log(), "the core got ready during the --no-wait call; the test proves nothing"

    assert main([*args, "--wait", "60"]) == EXIT_OK
    waited = capsys.readouterr()
    assert "waiting for the server at" in waited.err and "--no-wait" in waited.err, waited.err
    assert waited.err.count("waiting for the server") == 1  # said once, not on every retry
    assert real_wer((REAL / "jfk.txt").read_text(), waited.out) <= 0.15, waited.out
    assert "ready:" in starting_core.log()
