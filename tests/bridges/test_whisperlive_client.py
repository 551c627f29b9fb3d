"""The published whisper-live 0.10.0 client, unchanged, transcribes a WAV file through our bridge.

Slow by nature: in file mode the client waits until 15 s pass with no change before it sends
END_OF_AUDIO. It runs in a subprocess (it busy-waits and prints) with a stand-in `pyaudio`
module first on its path: no sound card is needed, and the stand-in's playback `write` paces the
file at 3x real time, which is how the client paces file audio.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from bridge_helpers import start_bridge
from tests.audio_fixtures import PARAGRAPH, silence, speech, wer
from tests.support import write_wav

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("whisper_live") is None,
                       reason="whisper-live is not installed: pip install --no-deps whisper-live==0.10.0"),
]

FAKE_PYAUDIO = '''
"""Stand-in for PyAudio: no devices; playback paces audio at SPEEDUP x real time."""
import time

paInt16, paFloat32 = 8, 1
SPEEDUP = 3.0


class _Stream:
    def __init__(self, rate=16000, channels=1, width=2):
        self.rate, self.channels, self.width = rate, channels, width

    def write(self, data):
        time.sleep(len(data) / (self.width * self.channels * self.rate) / SPEEDUP)

    def read(self, frames, exception_on_overflow=False):
        raise OSError("no microphone in the stand-in pyaudio")

    def stop_stream(self):
        pass

    def close(self):
        pass


class PyAudio:
    def open(self, format=paInt16, channels=1, rate=16000, **kwargs):
        return _Stream(rate, channels, 4 if format == paFloat32 else 2)

    def get_format_from_width(self, width):
        return paFloat32 if width == 4 else paInt16

    def terminate(self):
        pass
'''

RUN_CLIENT = '''
import json, sys
from whisper_live.client import TranscriptionClient

host, port, wav, srt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
client = TranscriptionClient(host, port, lang="en", log_transcription=False, output_transcription_path=srt)
text = client(wav)
print("RESULT " + json.dumps({"text": text, "segments": client.client.transcript,
                              "backend": client.client.server_backend}))
'''


def test_transcription_client_transcribes_a_file(core_address, tmp_path):
    (tmp_path / "pyaudio.py").write_text(FAKE_PYAUDIO)
    (tmp_path / "run_client.py").write_text(RUN_CLIENT)
    wav_path, srt_path = tmp_path / "speech.wav", tmp_path / "out.srt"
    write_wav(wav_path, np.concatenate([silence(0.3), speech(PARAGRAPH), silence(1.0)]))
    bridge = start_bridge(tmp_path, "whisperlive", core_address)
    try:
        # The script's directory (holding pyaudio.py) comes first on sys.path.
        run = subprocess.run([sys.executable, str(tmp_path / "run_client.py"), "127.0.0.1", str(bridge.port),
                              str(wav_path), str(srt_path)],
                             capture_output=True, text=True, timeout=240, cwd=tmp_path)
    finally:
        bridge.stop()
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}\n{bridge.log()[-3000:]}"
    [line] = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    assert result["backend"] == "faster_whisper"
    assert "Server Running with backend faster_whisper" in run.stdout
    # The default model "small" is not installed; the client printed our WARNING naming the substitute.
    assert "transcribing with 'base'" in run.stdout
    segments = result["segments"]
    assert segments and all(s["completed"] for s in segments)
    starts = [float(s["start"]) for s in segments]
    assert starts == sorted(starts)
    assert wer(PARAGRAPH, result["text"]) <= 0.15, result["text"]
    srt = srt_path.read_text()
    assert srt.startswith("1\n00:00:0") and "-->" in srt
