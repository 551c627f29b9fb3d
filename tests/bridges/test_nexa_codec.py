"""nexa codec without sockets."""
from __future__ import annotations

import json

import grpc
import pytest
from asr.v1 import asr_pb2
from google.protobuf import duration_pb2

from bridges.codec import EndAudio, EndReason, SendAudio, SendControl, SendJson, StartStream
from bridges.endings import Ending
from bridges.faults import CoreError
from bridge_helpers import close_of, CORE_DOWN, assert_core_down_wording
from bridges.nexa.codec import AUDIO_GAP_FINALIZE, MAX_MESSAGE_BYTES, NexaCodec


def start(codec: NexaCodec, config: dict) -> asr_pb2.StreamingConfig:
    [action] = codec.received_text(json.dumps(config))
    assert isinstance(action, StartStream), action
    return action.config


def errors(actions) -> list[str]:
    return [a.payload["error"] for a in actions if isinstance(a, SendJson) and a.payload["type"] == "error"]


def test_documented_defaults_reach_the_core():
    config = start(NexaCodec(), {})
    assert (config.engine, config.model, config.language) == ("", "", "en-US")
    assert config.sample_rate_hertz == 16000 and config.interim_results and not config.enable_word_time_offsets
    assert config.vad.enabled and config.beam_size == 5
    assert config.partial_interval.ToNanoseconds() == 500_000_000


def test_every_parameter_is_mapped():
    config = start(NexaCodec(engine="whisper"), {
        "model": "NexaAI/parakeet-npu", "language": "zh-CN", "sample_rate": 8000, "enable_partial_results": False,
        "enable_word_timestamps": True, "vad_enabled": False, "chunk_duration": 0.3, "overlap_duration": 0.1,
        "beam_size": 2})
    # The document's default model names no model here: the core picks one for zh-CN
    # (tests/bridges/test_nexa.py checks a non-English session end to end).
    assert (config.engine, config.model, config.language) == ("whisper", "", "zh-CN")
    assert config.sample_rate_hertz == 8000 and not config.interim_results and config.enable_word_time_offsets
    assert config.vad.HasField("enabled") and not config.vad.enabled
    assert config.partial_interval.ToNanoseconds() == 300_000_000 and config.beam_size == 2
    assert start(NexaCodec(), {"model": "tiny.en"}).model == "tiny.en"


@pytest.mark.parametrize("config, needle", [
    ({"sample_rate": "16000"}, "integer"),
    ({"beam_size": 2.5}, "integer"),
    ({"enable_word_timestamps": 1}, "true or false"),
    ({"chunk_duration": "0.5"}, "number"),
    ({"chunk_duration": 0.5, "overlap_duration": 0.6}, "smaller than"),
    ({"overlap_duration": -0.1}, "between"),
    ({"model": None}, "missing"),
    ({"action": "stop"}, "configuration"),
])
def test_invalid_configuration(config, needle):
    actions = NexaCodec().received_text(json.dumps(config))
    assert needle in errors(actions)[0] and close_of(actions[-1]) == (1008, "invalid configuration")


def test_results_have_documented_fields_and_words_on_request():
    codec = NexaCodec(clock=lambda: 1703123456.789)
    start(codec, {"enable_word_timestamps": True})
    word = asr_pb2.WordInfo(word=" hello", start_offset=duration_pb2.Duration(nanos=250_000_000),
                            end_offset=duration_pb2.Duration(nanos=600_000_000), confidence=0.9)
    response = asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text="hello", is_final=True,
                                                                          confidence=0.95, words=[word]))
    [action] = codec.core_response(response)
    assert action.payload == {"type": "final", "text": "hello", "confidence": 0.95, "timestamp": 1703123456789,
                              "is_final": True, "words": [{"word": "hello", "start": 0.25, "end": 0.6,
                                                           "confidence": 0.9}]}
    plain = NexaCodec(clock=lambda: 1.0)
    start(plain, {})
    partial = asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text="hel", confidence=0.5))
    assert plain.core_response(partial)[0].payload == {"type": "partial", "text": "hel", "confidence": 0.5,
                                                       "timestamp": 1000, "is_final": False}
    assert plain.core_response(asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text=""))) == []


def test_stop_flushes_then_closes_and_stream_errors_are_not_fatal():
    codec = NexaCodec()
    assert "before the configuration" in errors(codec.received_bytes(b"\x00\x00"))[0]
    codec = NexaCodec()
    start(codec, {})
    assert codec.received_bytes(b"\x00\x00") == [SendAudio(b"\x00\x00")]
    assert "16-bit" in errors(codec.received_bytes(b"\x00"))[0]
    assert "unknown control" in errors(codec.received_text('{"action": "pause"}'))[0]
    assert "exceeds" in errors(codec.frame_too_large(10, 5))[0]
    assert codec.received_text('{"action": "stop"}') == [EndAudio()]
    assert "dropped" in errors(codec.received_bytes(b"\x00\x00"))[0]  # audio after stop (issue 8)
    assert [close_of(a) for a in codec.core_finished()] == [(1000, "")]


def test_core_errors_and_idle():
    codec = NexaCodec()
    start(codec, {})
    actions = codec.core_error(CORE_DOWN)
    assert_core_down_wording(errors(actions)[0])
    assert close_of(actions[-1]) == (1013, "UNAVAILABLE")
    idle = NexaCodec()
    start(idle, {})
    assert idle.idle()[-1] == EndAudio() and idle.idle_timeout(30.0) is None
    assert close_of(NexaCodec().idle()[-1]) == (1008, "idle timeout")


def test_beam_size_range_is_the_range_the_engine_serves():
    assert start(NexaCodec(), {"beam_size": 10}).beam_size == 10
    actions = NexaCodec().received_text(json.dumps({"beam_size": 12}))
    assert "between 1 and 10" in errors(actions)[0] and close_of(actions[-1]) == (1008, "invalid configuration")


def test_a_configuration_the_core_refuses_is_the_clients_error():
    codec = NexaCodec()
    start(codec, {"model": "no-such-model"})
    actions = codec.core_error(CoreError(grpc.StatusCode.INVALID_ARGUMENT, "unknown model", field_violations=(("config.model", "unknown model"),)))
    assert errors(actions) and close_of(actions[-1]) == (1008, "INVALID_ARGUMENT")


def test_stop_with_extra_fields_stops():
    codec = NexaCodec()
    start(codec, {})
    assert codec.received_text('{"action": "stop", "reason": "user pressed stop"}') == [EndAudio()]


def test_session_limit_sends_the_error_first():
    codec = NexaCodec()
    start(codec, {})
    assert "maximum session duration" in errors(codec.ending(EndReason.MAX_DURATION))[0]
    assert [close_of(a) for a in codec.core_finished()] == [(1000, "")]  # the runtime sends it as 1008 (docs/bridges.md)


def test_a_large_message_reaches_the_core_in_pieces_and_its_limit_is_said():
    codec = NexaCodec()
    start(codec, {})
    audio = bytes(range(256)) * (352_000 // 256)  # 11 s of 16 kHz PCM16: the C# example's whole file
    pieces = codec.received_bytes(audio)
    assert all(isinstance(p, SendAudio) and len(p.audio) <= 256 * 1024 for p in pieces) and len(pieces) == 2
    assert b"".join(p.audio for p in pieces) == audio
    [error] = errors(codec.frame_too_large(5_000_000, MAX_MESSAGE_BYTES))
    assert "4194304-byte limit" in error and "131 s" in error


def test_audio_that_stops_is_finalized_before_the_idle_timeout():
    codec = NexaCodec()
    start(codec, {})
    codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted()))
    assert codec.idle_timeout(30.0) == 30.0  # no audio yet: nothing to finalize
    codec.received_bytes(b"\x01\x00" * 8000)  # the C# example's one chunk
    assert codec.idle_timeout(30.0) == AUDIO_GAP_FINALIZE
    [finalize] = codec.idle()
    assert isinstance(finalize, SendControl) and finalize.control.HasField("finalize")
    assert codec.idle_timeout(30.0) == 30.0  # then the idle rule, counted afresh
    assert errors(codec.idle()) and codec.idle_timeout(30.0) is None
