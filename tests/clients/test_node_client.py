"""The Node client (clients/node) as a user runs it: `node clients/node/bin/asr-transcribe.js` and
`npx --prefix clients/node asr-transcribe`, and its typed library, against a real core with real speech
(the CLI checks are shared with the Go and C++ clients: tests/clients/cli_checks.py)."""
from __future__ import annotations

import json

import pytest

from tests.clients import cli_checks as checks
from tests.clients.compiled import Toolchain, build, jfk_wer, run_client

NODE = Toolchain("Node", "node-client", ("node", "npm"), "bash .ci/install_client_toolchains installs node and npm")
CLI = ["node", "clients/node/bin/asr-transcribe.js"]


@pytest.fixture(scope="module", autouse=True)
def node_client() -> None:
    build(NODE)


def test_npx_runs_the_cli_from_the_repository(core_address, jfk_wav):
    checks.transcribes_a_wav_file(["npx", "--prefix", "clients/node", "asr-transcribe"], core_address, jfk_wav)


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
