"""google-stt codec without sockets: frames in, actions out."""
from __future__ import annotations

import json

import grpc
import pytest
from asr.v1 import asr_pb2

from bridges.codec import EndAudio, Refusal, SendAudio, SendControl, SendJson, StartStream
from bridges.endings import Ending, normal
from bridges.faults import CoreError
from bridge_helpers import close_of, CORE_DOWN, assert_core_down_wording
from bridges.google_stt.codec import AUDIO_GAP_FINALIZE, END_AFTER_SILENCE, GoogleSttCodec, GoogleSttOptions
from tests.support import FakeClock


def started(codec: GoogleSttCodec, config: dict | None = None) -> asr_pb2.StreamingConfig:
    actions = codec.received_text(json.dumps(config or {}))
    assert len(actions) == 1 and isinstance(actions[0], StartStream), actions
    codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(session_id="s")))
    return actions[0].config


def errors(actions) -> list[str]:
    return [a.payload["detail"] for a in actions if isinstance(a, SendJson) and a.payload["type"] == "error"]


def test_defaults_prefer_google_and_fall_back_to_whisper():
    codec = GoogleSttCodec()
    config = started(codec)
    # the core serves "google,whisper" with Google when it has credentials, else Whisper,
    # which picks its multilingual model for ar-EG by itself
    assert (config.engine, config.language, config.model, config.sample_rate_hertz) == ("google,whisper", "ar-EG", "", 16000)
    assert config.interim_results and config.enable_automatic_punctuation
    assert config.encoding == asr_pb2.AUDIO_ENCODING_LINEAR16


def test_english_uses_core_default_and_engine_flag_is_passed_through():
    assert started(GoogleSttCodec(), {"language_code": "en-US"}).model == ""
    config = started(GoogleSttCodec(GoogleSttOptions(engine="google")), {"language_code": "ar-EG"})
    assert (config.engine, config.model) == ("google", "")


def test_metadata_echoes_resolved_config_after_core_accepts():
    codec = GoogleSttCodec()
    assert isinstance(codec.received_text(json.dumps({"sample_rate_hertz": 8000, "encoding": "linear16"}))[0], StartStream)
    ack = codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted()))
    assert ack == [SendJson({"type": "metadata", "status": "ready", "language_code": "ar-EG",
                             "sample_rate_hertz": 8000, "encoding": "LINEAR16", "end_after_silence_seconds": 10.0,
                             "end_message": {"type": "end"}})]


@pytest.mark.parametrize("frame, needle", [
    ("{", "not valid JSON"),
    ("3", "JSON object"),
    (json.dumps({"language_code": 5}), "must be a string"),
    (json.dumps({"language_code": None}), "missing"),
    (json.dumps({"sample_rate_hertz": 16000.0}), "integer"),
    (json.dumps({"sample_rate_hertz": False}), "integer"),
    (json.dumps({"sample_rate_hertz": 96000}), "between"),
    (json.dumps({"encoding": "FLAC"}), "unsupported encoding"),
    (json.dumps({"language_code": "english please"}), "not a language code"),
    (json.dumps({"language_code": "en_US"}), "BCP-47"),  # a POSIX locale, not a language tag
    (json.dumps({"type": "end"}), "before the config"),
])
def test_config_errors_close_the_session(frame, needle):
    actions = GoogleSttCodec().received_text(frame)
    assert needle in errors(actions)[0]
    assert isinstance(actions[-1], Ending) and close_of(actions[-1])[0] == 1008


def test_audio_before_config_is_an_error():
    actions = GoogleSttCodec().received_bytes(b"\x00\x00")
    assert "before the config" in errors(actions)[0] and isinstance(actions[-1], Ending)


def test_stream_errors_are_not_fatal():
    codec = GoogleSttCodec()
    started(codec)
    assert "16-bit" in errors(codec.received_bytes(b"\x00" * 3))[0]
    assert "unknown message" in errors(codec.received_text('{"type": "pause"}'))[0]
    assert "exceeds" in errors(codec.frame_too_large(70000, 65536))[0]
    assert codec.received_bytes(b"\x01\x00") == [SendAudio(b"\x01\x00")]


def test_transcripts_skip_empty_text_and_keep_documented_fields():
    codec = GoogleSttCodec()
    started(codec)
    empty = asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text=" ", is_final=False))
    assert codec.core_response(empty) == []
    final = asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text=" Hello.", is_final=True, confidence=0.87))
    [action] = codec.core_response(final)
    assert action.payload == {"type": "transcript", "text": "Hello.", "is_final": True, "confidence": 0.87}


def test_a_pause_in_sending_is_finalized_and_ten_seconds_without_audio_end_the_stream():
    clock = FakeClock()
    codec = GoogleSttCodec(clock=clock)
    started(codec)
    assert codec.idle_timeout(30.0) == 30.0  # no audio yet: the ordinary idle timeout
    codec.received_bytes(b"\x00\x00")
    assert codec.idle_timeout(30.0) == AUDIO_GAP_FINALIZE
    clock.now += AUDIO_GAP_FINALIZE
    [finalize] = codec.idle()  # a speaker's pause: what was said is transcribed, the stream goes on
    assert isinstance(finalize, SendControl) and finalize.control.HasField("finalize")
    assert codec.idle_timeout(30.0) == pytest.approx(END_AFTER_SILENCE - AUDIO_GAP_FINALIZE)
    clock.now += 3.0
    assert codec.idle() == []  # a timer that fired early changes nothing
    codec.received_bytes(b"\x00\x00")  # the speaker goes on after a 5 s pause: same stream
    assert codec.idle_timeout(30.0) == AUDIO_GAP_FINALIZE
    clock.now += END_AFTER_SILENCE
    assert codec.idle() == [EndAudio()]
    assert codec.idle_timeout(30.0) is None  # waiting for the core's last finals
    assert codec.core_finished() == [SendJson({"type": "complete"}), normal()]

    other = GoogleSttCodec()
    started(other)
    assert other.received_text('{"type": "end"}') == [EndAudio()]
    assert "dropped" in errors(other.received_bytes(b"\x00\x00"))[0]  # audio after the end: an error, not audio


def test_core_errors_map_to_detail_and_close():
    codec = GoogleSttCodec()
    started(codec)
    actions = codec.core_error(CORE_DOWN)
    assert_core_down_wording(errors(actions)[0])
    assert close_of(actions[-1]) == (1013, "UNAVAILABLE")
    assert actions[-2] == SendJson({"type": "complete"})  # the document's client waits for it
    invalid = GoogleSttCodec().core_error(CoreError(grpc.StatusCode.INVALID_ARGUMENT, "bad", field_violations=(("config.language", "unsupported language 'xx'"),)))
    assert "config.language: unsupported language" in errors(invalid)[0]
    busy = GoogleSttCodec().core_error(CoreError(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", retry_after=3.0))
    assert "retry in 3 s" in errors(busy)[0]


def test_refusal_uses_dialect_error_shape():
    actions = GoogleSttCodec().refused(Refusal.MAX_CONNECTIONS, "limit of 1 reached")
    assert errors(actions) == ["limit of 1 reached"] and isinstance(actions[-1], Ending)


def test_punctuation_off_strips_it_from_transcripts():
    codec = GoogleSttCodec(GoogleSttOptions(automatic_punctuation=False))
    started(codec)
    response = asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(
        text=" Well, don't stop: it's e-mail time! مرحبا، كيف حالك؟", is_final=True, confidence=0.9))
    [action] = codec.core_response(response)
    assert action.payload["text"] == "Well don't stop it's e-mail time مرحبا كيف حالك"
