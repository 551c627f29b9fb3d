"""`python -m clients.cli` as a user runs it, against a real core."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from clients import Recognizer
from tests.audio_fixtures import wer
from tests.clients.conftest import run_cli
from tests.conftest import ROOT, free_port


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_transcribe_mp3_paragraph_prints_transcript(core_address, paragraph_mp3):
    proc = run_cli("transcribe", str(paragraph_mp3.path), "--no-interim", env={"ASR_SERVER": core_address})
    assert proc.returncode == 0, proc.stderr
    assert wer(paragraph_mp3.text, proc.stdout) <= 0.10, proc.stdout
    assert proc.stderr == ""  # not a TTY: no status line, no noise


def test_transcribe_flac_json_has_partials_finals_and_fields(core_address, paragraph_flac):
    proc = run_cli("transcribe", str(paragraph_flac.path), "--server", core_address, "--json", "--word-times")
    assert proc.returncode == 0, proc.stderr
    lines = _json_lines(proc.stdout)
    results = [o for o in lines if o["type"] == "result"]
    finals = [o for o in results if o["is_final"]]
    partials = [o for o in results if not o["is_final"]]
    assert finals
    # Partials are timing-dependent when audio arrives faster than real time; see the realtime test.
    assert all(0.0 <= p["stability"] <= 1.0 and p["segment_id"] >= 1 for p in partials)
    for o in results:
        assert {"segment_id", "text", "is_final", "start", "end", "stability", "confidence", "words", "language"} <= o.keys()
        assert isinstance(o["start"], float) and o["start"] <= o["end"] <= paragraph_flac.seconds + 0.1
    assert [f["segment_id"] for f in finals] == sorted(f["segment_id"] for f in finals)
    words = [w for f in finals for w in f["words"]]
    assert words and all({"word", "start", "end", "confidence"} <= w.keys() and w["start"] <= w["end"] for w in words)
    assert lines[-1]["type"] == "summary" and lines[-1]["segment_count"] == len(finals)
    assert wer(paragraph_flac.text, " ".join(f["text"] for f in finals)) <= 0.10


def test_transcribe_wav_and_ogg(core_address, utterances_file):
    proc = run_cli("transcribe", str(utterances_file.path), "--server", core_address, "--language", "en",
                   "--segmentation", "live")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) >= 2  # one line per final: live cuts at each utterance
    assert wer(utterances_file.text, proc.stdout) <= 0.10, proc.stdout


def test_word_times_text_mode(core_address, short_wav):
    proc = run_cli("transcribe", str(short_wav.path), "--server", core_address, "--word-times", "--no-interim")
    assert proc.returncode == 0, proc.stderr
    head, words = proc.stdout.splitlines()[:2]
    assert head.startswith("[") and "→" in head
    assert wer(short_wav.text, head.split("]", 1)[1]) <= 0.2
    assert all("@" in w and "-" in w for w in words.split())


def test_diarize_prefixes_each_speakers_lines(core_address, tmp_path):
    """Kennedy, then the sonnets' reader answering him back to back inside one final: a line each."""
    import soundfile

    from tests.dialogues import two_speakers_kennedy_and_sonnets

    path = tmp_path / "dialogue.flac"
    soundfile.write(path, two_speakers_kennedy_and_sonnets().audio, 16000)
    proc = run_cli("transcribe", str(path), "--server", core_address, "--diarize", "--no-interim")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line[:4] for line in lines][:2] == ["[S1]", "[S2]"] and {line[:4] for line in lines} == {"[S1]", "[S2]"}
    assert "country" in " ".join(line for line in lines if line.startswith("[S1]"))
    assert "creatures" in " ".join(line for line in lines if line.startswith("[S2]"))


def test_realtime_paces_a_sentence_and_streams_partials(core_address, sentence_wav):
    start = time.monotonic()
    proc = run_cli("transcribe", str(sentence_wav.path), "--server", core_address, "--realtime", "--json")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert elapsed >= sentence_wav.seconds * 0.95, f"{elapsed:.2f}s for {sentence_wav.seconds:.2f}s of audio"
    results = [o for o in _json_lines(proc.stdout) if o["type"] == "result"]
    partials = [o for o in results if not o["is_final"]]
    finals = [o for o in results if o["is_final"]]
    assert partials, "a real-time stream with --interim (the default) should produce partial results"
    assert all(p["segment_id"] == finals[0]["segment_id"] and p["end"] <= finals[0]["end"] + 0.1 for p in partials[:1])
    assert results.index(partials[0]) < results.index(finals[0])
    assert wer(sentence_wav.text, " ".join(f["text"] for f in finals)) <= 0.2, finals


def test_partials_overwrite_a_status_line_on_a_tty(core_address, short_wav):
    """stderr on a pseudo-terminal gets carriage-return updates; stdout only the final text."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "transcribe", str(short_wav.path), "--server", core_address, "--realtime"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=terminal, text=True,
        )
        os.close(terminal)
        terminal = -1
        tty_bytes = bytearray()
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            tty_bytes += data
        stdout, _ = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert proc.returncode == 0, tty_bytes.decode(errors="replace")
    status = tty_bytes.decode(errors="replace")
    assert "\r\x1b[K" in status, f"no status-line updates on the terminal: {status!r}"
    shown = status.split("\r\x1b[K")
    assert any(s.startswith("[1] ") and len(s) > 5 for s in shown), shown  # partial text of segment 1
    assert status.endswith("\r\x1b[K")  # the line is cleared at the end
    assert wer(short_wav.text, stdout) <= 0.2 and "\r" not in stdout


def settled_listing(address: str, deadline: float = 30.0):
    """ListEngines once no engine's availability is still being found out (Google's credential
    lookup answers "check in progress" at first, then its result: a listing taken while it
    runs differs from the next one)."""
    from core_service.engines.google import CHECKING

    end = time.monotonic() + deadline
    while True:
        listing = Recognizer(address).list_engines()
        if all(e.unavailable_reason != CHECKING for e in listing.engines) or time.monotonic() > end:
            return listing
        time.sleep(0.5)


def test_engines_table_and_json(core_address):
    listing = settled_listing(core_address)
    proc = run_cli("engines", "--server", core_address)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["ENGINE", "ALIASES", "AVAILABLE"]
    for engine in listing.engines:
        row = next(line for line in lines if line.startswith(engine.name + " ") or line == engine.name)
        assert ("yes" if engine.available else "NO") in row.split()
        assert ("diarization" in row) == engine.capabilities.diarization
        for model in engine.models:
            assert f"model {model.name} [" in proc.stdout
        if not engine.available:
            assert engine.unavailable_reason in proc.stdout
    assert f"{listing.default_engine} (default)" in proc.stdout

    proc = run_cli("engines", "--json", env={"ASR_SERVER": core_address})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["default_engine"] == listing.default_engine
    assert [e["name"] for e in data["engines"]] == [e.name for e in listing.engines]
    assert {"name", "aliases", "available", "unavailable_reason", "capabilities", "models"} <= data["engines"][0].keys()


@pytest.mark.parametrize("command", ["transcribe", "engines"])
def test_unreachable_server_says_where_and_how_to_start_it(command, short_wav):
    address = f"127.0.0.1:{free_port()}"
    args = ["transcribe", str(short_wav.path)] if command == "transcribe" else ["engines"]
    proc = run_cli(*args, "--server", address, timeout=60)
    assert proc.returncode == 3
    assert address in proc.stderr and "make run" in proc.stderr
    assert proc.stdout == ""


def test_unknown_engine_is_reported_by_the_server(core_address, short_wav):
    proc = run_cli("transcribe", str(short_wav.path), "--server", core_address, "--engine", "no-such-engine")
    assert proc.returncode == 4, proc.stderr
    assert "no-such-engine" in proc.stderr and "refused" in proc.stderr
    assert "clients.cli engines" in proc.stderr  # points at what the server does offer


def test_unreadable_file_is_a_usage_error(tmp_path):
    junk = tmp_path / "notes.ogg"
    junk.write_text("not audio")
    proc = run_cli("transcribe", str(junk), "--server", f"127.0.0.1:{free_port()}", timeout=60)
    assert proc.returncode == 2 and str(junk) in proc.stderr


def test_hotwords_flag_gets_an_unusual_name_right(core_address, tmp_path):
    from tests.audio_fixtures import silence, speech
    from tests.support import write_wav

    path = write_wav(tmp_path / "name.wav", np.concatenate([silence(0.3), speech("Please send the report to Siobhan Quigley."),
                                                            silence(1.0)]))
    plain = run_cli("transcribe", str(path), "--no-interim", "--server", core_address)
    hinted = run_cli("transcribe", str(path), "--no-interim", "--server", core_address,
                     "--hotwords", "Siobhan Quigley,kubectl")
    assert plain.returncode == hinted.returncode == 0, hinted.stderr
    assert "Siobhan Quigley" not in plain.stdout and "Siobhan Quigley" in hinted.stdout, (plain.stdout, hinted.stdout)


def test_separate_channels_flag_prints_each_channel(core_address, tmp_path):
    from tests.audio_fixtures import silence, speech
    from tests.support import write_wav

    left = np.concatenate([silence(0.3), speech("Please turn on the kitchen lights."), silence(1.0)])
    right = np.concatenate([silence(0.3), speech("Set a timer for ten minutes."), silence(1.0)])
    n = max(len(left), len(right))
    stereo = np.zeros((n, 2), np.float32)
    stereo[:len(left), 0], stereo[:len(right), 1] = left, right
    path = write_wav(tmp_path / "two.wav", stereo)
    proc = run_cli("transcribe", str(path), "--no-interim", "--server", core_address, "--separate-channels")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("[ch1]") and "kitchen" in ln.lower() for ln in lines), lines
    assert any(ln.startswith("[ch2]") and "timer" in ln.lower() for ln in lines), lines


def test_a_file_is_transcribed_with_accurate_segmentation_unless_live_is_asked_for(core_address):
    from tests.real_speech import REAL, load, real_wer

    # JFK's "And so my fellow Americans ... ask not ..." has three 0.6-1.1 s pauses: cut at them
    # (live, the server's default), the first words alone come out "And so am I fellow Americans".
    for flags in ([], ["--segmentation", "accurate"]):
        proc = run_cli("transcribe", str(REAL / "jfk.flac"), "--no-interim", "--server", core_address, *flags)
        assert proc.returncode == 0, proc.stderr
        assert real_wer(load("jfk").transcript, proc.stdout) == 0.0, (flags, proc.stdout)
    live = run_cli("transcribe", str(REAL / "jfk.flac"), "--no-interim", "--server", core_address,
                   "--segmentation", "live")
    assert live.returncode == 0, live.stderr
    assert real_wer(load("jfk").transcript, live.stdout) > 0.0, live.stdout


@pytest.mark.parametrize("name", ["FLAC", "MP3"])
def test_a_file_is_sent_as_it_is_and_decoded_by_the_core(core, name):
    """The CLI sends the file's own bytes (encoding AUTO) and the core detects and decodes them;
    --send-pcm decodes it here and sends 16 kHz LINEAR16 instead."""
    from tests.encoded_audio import jfk_file
    from tests.real_speech import load, real_wer

    path = jfk_file(name)
    container = {"FLAC": "flac/flac", "MP3": "mp3/mp3"}[name]
    for flags, received in (([], "AUTO (rate and channels from the stream)"), (["--send-pcm"], "LINEAR16/16000Hz/1ch")):
        proc = run_cli("-v", "transcribe", str(path), "--no-interim", "--server", core.address, *flags)
        assert proc.returncode == 0, proc.stderr
        assert real_wer(load("jfk").transcript, proc.stdout) == 0.0, proc.stdout
        session = re.search(r"session (\w+) on ", proc.stderr).group(1)
        log = core.log()
        assert re.search(rf"session '{session}' started: .* {re.escape(received)} ", log), received
        assert (f"session '{session}': AUTO stream is {container}" in log) == (not flags)
