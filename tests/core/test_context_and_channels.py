"""Prompt, hotwords and per-channel recognition, end to end through the core's gRPC API."""
from __future__ import annotations

import numpy as np
import soxr

from tests.audio_fixtures import SAMPLE_RATE, silence, speech, to_pcm16, wer

from .grpc_helpers import audio_requests, config, recognize

NAME_SENTENCE = "Please send the report to Siobhan Quigley."


def padded(text: str, lead: float = 0.3, tail: float = 1.0) -> np.ndarray:
    return np.concatenate([silence(lead), speech(text), silence(tail)])


async def test_an_unusual_name_comes_out_right_only_when_given_as_a_hotword(core_address):
    pcm = to_pcm16(padded(NAME_SENTENCE))
    plain = await recognize(core_address, [config(), *audio_requests(pcm)])
    hinted = await recognize(core_address, [config(hotwords=["Siobhan Quigley"]), *audio_requests(pcm)])
    assert "Siobhan Quigley" not in plain.transcript, plain.transcript
    assert "Siobhan Quigley" in hinted.transcript, hinted.transcript
    assert list(hinted.responses[0].session_started.resolved_config.hotwords) == ["Siobhan Quigley"]


async def test_a_prompt_gives_the_engine_the_same_lever(core_address):
    pcm = to_pcm16(padded(NAME_SENTENCE))
    call = await recognize(core_address, [config(prompt="Minutes of the meeting with Siobhan Quigley."),
                                          *audio_requests(pcm)])
    assert "Siobhan Quigley" in call.transcript, call.transcript


async def test_over_long_prompt_and_hotwords_are_refused_with_the_field_named(core_address):
    call = await recognize(core_address, [config(prompt="x" * 1001)])
    assert call.code.name == "INVALID_ARGUMENT" and call.field_violations == ["config.prompt"]
    call = await recognize(core_address, [config(hotwords=["word"] * 101)])
    assert call.code.name == "INVALID_ARGUMENT" and call.field_violations == ["config.hotwords"]


def _other_voice(audio: np.ndarray) -> np.ndarray:
    """The same voice played 12% faster: higher and quicker, a second speaker to the VAD and Whisper."""
    return soxr.resample(audio, SAMPLE_RATE * 1.12, SAMPLE_RATE).astype(np.float32)


async def test_each_channel_is_recognized_on_its_own(core_address):
    left_text, right_text = "Please turn on the kitchen lights.", "Set a timer for ten minutes."
    left = np.concatenate([silence(0.3), speech(left_text), silence(1.2)])
    right = np.concatenate([silence(0.6), _other_voice(speech(right_text)), silence(1.0)])
    n = max(len(left), len(right))
    stereo = np.zeros((n, 2), np.float32)
    stereo[:len(left), 0], stereo[:len(right), 1] = left, right  # the two speak over each other
    pcm = to_pcm16(stereo.reshape(-1))
    call = await recognize(core_address, [config(audio_channel_count=2, interim_results=True,
                                                 enable_separate_recognition_per_channel=True),
                                          *audio_requests(pcm, chunk=6400)])
    assert call.code.name == "OK", call.message
    by_channel = {1: " ".join(f.text for f in call.finals if f.channel_tag == 1),
                  2: " ".join(f.text for f in call.finals if f.channel_tag == 2)}
    assert wer(left_text, by_channel[1]) <= 0.2, by_channel
    assert wer(right_text, by_channel[2]) <= 0.2, by_channel
    assert all(f.channel_tag in (1, 2) for f in call.finals)
    ids = [f.segment_id for f in call.finals]
    assert len(ids) == len(set(ids)), "segment ids are unique within the session"
    assert {e.channel_tag for e in call.of("speech_event")} == {1, 2}
