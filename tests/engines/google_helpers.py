"""What the Google engine tests share besides their fixtures (conftest.py): the fake Speech
server's and the core's stream limits, the session config and the audio they send."""
from __future__ import annotations

import numpy as np
from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, noise, speech, to_pcm16
from tests.engines.engine_helpers import pcm16_config

RESTART_SECONDS = 6.0
MAX_BACKLOG_SECONDS = 4.0  # an utterance, the pause before it and the endpoint fit
IDLE_SECONDS = 2.5  # long enough that a busy machine's pauses between messages do not drain
ENDPOINT_SECONDS = 0.5  # the fake's end-of-speech silence
BYTES_PER_SECOND = SAMPLE_RATE * 2
UTTERANCES = ("Please turn on the kitchen lights.", "Set a timer for ten minutes.")


def google_config(engine: str = "google", interim_results: bool = False, **kw) -> asr_pb2.RecognizeRequest:
    return pcm16_config(engine, interim_results=interim_results, **kw)


def five_seconds() -> bytes:
    clip = np.concatenate([speech("Set a timer for ten minutes."), noise(5.0, level=0.02)])
    return to_pcm16(clip[:5 * SAMPLE_RATE])
