"""Our google_speech bridge as the Google endpoint of our own core's `google` engine, end to end:
the google-stt document's client -> the google_stt bridge -> a core whose google engine talks
to Google Cloud Speech with Google's `SpeechClient` (ASR_GOOGLE_ENDPOINT) -> our google_speech
bridge -> the shared core's Whisper. What the document's server does against Google, on our own
recognition; and the google engine gets a real server to talk to."""
from __future__ import annotations

import numpy as np
import pytest

from bridge_helpers import start_bridge
from test_google_stt import PATH, check_transcripts, doc_client
from tests.audio_fixtures import silence, to_pcm16, wer
from tests.conftest import free_port
from tests.real_speech import load
from tests.support import running_core


@pytest.fixture(scope="module")
def google_stt_on_google_speech(core_address, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("google-on-google-speech")
    speech_bridge = start_bridge(tmp, "google_speech", core_address, "--engine", "whisper", port=free_port())
    try:
        with running_core(tmp, "--engine", "google",
                          env={"ASR_GOOGLE_ENDPOINT": f"127.0.0.1:{speech_bridge.port}"}) as google_core:
            stt_bridge = start_bridge(tmp, "google_stt", google_core.address, "--engine", "google",
                                      "--end-after-silence", "1.5")
            try:
                yield stt_bridge, speech_bridge
            finally:
                stt_bridge.stop()
    finally:
        speech_bridge.stop()


async def test_the_google_stt_document_client_through_our_google_speech_bridge(google_stt_on_google_speech):
    stt_bridge, speech_bridge = google_stt_on_google_speech
    recording = load("jfk")
    pcm = to_pcm16(np.concatenate([recording.audio, silence(0.5)]))
    config = {"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}
    _, messages = await doc_client(stt_bridge.url(PATH), config, pcm)
    finals = [m["text"] for m in check_transcripts(messages) if m["is_final"]]
    assert wer(recording.transcript, " ".join(finals)) <= 0.15, finals
    assert "StreamingRecognize" in speech_bridge.log(), "the google engine's streams reached our bridge"
