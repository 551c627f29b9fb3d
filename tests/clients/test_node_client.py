"""The Node client (clients/node) as a user runs it: `node clients/node/bin/asr-transcribe.js` and
`npx --prefix clients/node asr-transcribe`, and its typed library, against a real core with real speech."""
from __future__ import annotations

import json

import pytest

from tests.clients.compiled import (Toolchain, assert_partials_then_finals, build, jfk_pcm16, jfk_wer, json_lines,
                                    run_client)

NODE = Toolchain("Node", "node-client", ("node", "npm"), "bash .ci/ensure_command npm npm")
CLI = ["node", "clients/node/bin/asr-transcribe.js"]


@pytest.fixture(scope="module", autouse=True)
def node_client() -> None:
    build(NODE)


def test_a_wav_file_is_transcribed_within_the_wer_bound(core_address, jfk_wav):
    done = run_client(["npx", "--prefix", "clients/node", "asr-transcribe", str(jfk_wav), "--server", core_address,
                       "--timeout", "120"])
    assert done.returncode == 0, done.stderr
    assert jfk_wer(done.stdout) <= 0.05, done.stdout  # accurate segmentation: offline Whisper's text
    assert done.stderr == ""  # stderr is not a terminal: no status line, no noise


def test_a_wav_on_stdin_is_read_from_its_header(core_address, jfk_wav):
    done = run_client([*CLI, "-", "--server", core_address, "--timeout", "120"], stdin=jfk_wav.read_bytes())
    assert done.returncode == 0, done.stderr
    assert jfk_wer(done.stdout) <= 0.05, done.stdout


def test_raw_pcm_on_stdin_in_real_time_gives_partials_then_finals(core_address):
    done = run_client([*CLI, "-", "--raw", "--rate", "16000", "--realtime", "--json", "--server", core_address,
                       "--timeout", "120"], stdin=jfk_pcm16())
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    finals = assert_partials_then_finals(lines)
    # live segmentation (the server's, with --realtime) cuts at JFK's pauses: "And so am I fellow Americans"
    assert jfk_wer(" ".join(f["text"] for f in finals)) <= 0.25, finals
    assert {"segment_id", "text", "is_final", "start", "end", "stability", "words", "language"} <= lines[0].keys()
    assert lines[-1]["audio_processed"] == pytest.approx(11.0, abs=0.1)


def test_an_api_key_over_tls_is_accepted(secure_core, jfk_wav):
    done = run_client([*CLI, str(jfk_wav), "--server", secure_core.address, "--ca", str(secure_core.ca),
                       "--timeout", "120"], env={"ASR_API_KEY": secure_core.key})
    assert done.returncode == 0, done.stderr
    assert jfk_wer(done.stdout) <= 0.05, done.stdout


def test_a_refused_key_gives_unauthenticated_and_says_what_to_do(secure_core, jfk_wav):
    for key in (["--api-key", "not-a-key"], []):
        done = run_client([*CLI, str(jfk_wav), "--server", secure_core.address, "--ca", str(secure_core.ca),
                           "--timeout", "30", *key])
        assert done.returncode == 4, (key, done.stderr)
        assert "UNAUTHENTICATED" in done.stderr and "--api-key" in done.stderr, done.stderr
        assert done.stdout == ""


def test_a_tls_server_not_trusted_is_unreachable(secure_core, jfk_wav):
    # --tls trusts the system's CAs, which do not know the test's CA; plaintext gets no TLS handshake
    for flags in (["--tls"], []):
        done = run_client([*CLI, str(jfk_wav), "--server", secure_core.address, "--api-key", secure_core.key,
                           "--timeout", "30", *flags])
        assert done.returncode == 3, (flags, done.stderr)
        assert f"cannot reach the ASR server at {secure_core.address}" in done.stderr, done.stderr


def test_bad_usage_and_unreadable_audio_exit_2_before_connecting(tmp_path):
    not_wav = tmp_path / "notes.txt"
    not_wav.write_text("hello")
    for args, words in (([str(tmp_path / "missing.wav")], "no such file"), ([str(not_wav)], "not a WAV file"),
                        (["-", "--segmentation", "sometimes"], "--segmentation takes live or accurate")):
        done = run_client([*CLI, *args, "--server", "127.0.0.1:1"], stdin=b"")
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr, done.stderr


def test_the_library_lists_engines_and_streams_typed_events(core_address, jfk_wav):
    script = f"""
const {{ RecognizerClient, openAudio }} = require("./clients/node");
(async () => {{
  const client = new RecognizerClient({json.dumps(core_address)}, {{ timeoutSeconds: 120 }});
  const engines = await client.listEngines();
  const audio = await openAudio({json.dumps(str(jfk_wav))});
  const events = [];
  for await (const event of client.stream(audio.chunks(100, false), {{ format: audio.format, segmentation: "accurate" }})) {{
    events.push(event);
  }}
  client.close();
  console.log(JSON.stringify({{ engines, format: audio.format, events }}));
}})();
"""
    done = run_client(["node", "-e", script])
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["engines"]["defaultEngine"] == "whisper"
    assert any(e["name"] == "whisper" and e["available"] for e in out["engines"]["engines"])
    assert out["format"] == {"encoding": "linear16", "sampleRate": 16000, "channels": 1}
    events = out["events"]
    assert events[0]["type"] == "session_started" and events[0]["engine"] == "whisper"
    assert events[-1]["type"] == "summary" and jfk_wer(events[-1]["transcript"]) <= 0.05, events[-1]
