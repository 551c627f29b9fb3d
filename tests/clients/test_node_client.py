"""The Node client (clients/node) as a user runs it: `node clients/node/bin/asr-transcribe.js` and
`npx --prefix clients/node asr-transcribe`, and its typed library, against a real core with real speech
(the CLI checks shared with Go and C++: tests/clients/test_transcribe_commands.py)."""
from __future__ import annotations

import json

import pytest

from tests.clients import cli_checks as checks
from tests.clients.compiled import NODE, build, jfk_wer, run_client


@pytest.fixture(scope="module", autouse=True)
def node_client() -> None:
    build(NODE)


def test_npx_runs_the_cli_from_the_repository(core_address, jfk_wav):
    checks.transcribes_a_wav_file(["npx", "--prefix", "clients/node", "asr-transcribe"], core_address, jfk_wav)


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
