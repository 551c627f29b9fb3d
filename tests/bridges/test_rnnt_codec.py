"""RnntCodec without sockets: client frames and core responses in, actions out."""
from __future__ import annotations

import json
import re

import grpc
import pytest

from asr.v1 import asr_pb2
from bridges.codec import EndAudio, EndReason, Refusal, SendAudio, SendControl, StartStream
from bridges.endings import Ending
from bridges.faults import CoreError
from bridge_helpers import close_of, CORE_DOWN, assert_core_down_wording
from dataclasses import replace

from bridges.rnnt.codec import LIMITS, RnntCodec, RnntSettings, State
from bridges.rnnt.messages import iso_timestamp, new_client_id, vad_probability
from tests.support import FakeClock, duration, jsons

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def started(codec: RnntCodec, config: dict | None = None) -> StartStream:
    msg = {"type": "start_recording", **({"config": config} if config is not None else {})}
    actions = codec.received_text(json.dumps(msg))
    assert len(actions) == 1 and isinstance(actions[0], StartStream), actions
    resolved = asr_pb2.StreamingConfig()
    resolved.CopyFrom(actions[0].config)
    resolved.vad.threshold = resolved.vad.threshold or 0.5
    if not resolved.vad.HasField("min_silence_duration"):
        resolved.vad.min_silence_duration.CopyFrom(duration(0.5))
    out = codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(
        session_id="s", resolved_config=resolved, engine="whisper", model="tiny.en")))
    [msg] = jsons(out)
    assert msg["type"] == "recording_started" and ISO.match(msg["timestamp"])
    return actions[0]


def test_connection_message_and_generated_client_id():
    codec = RnntCodec(clock=FakeClock())
    [msg] = jsons(codec.connected())
    assert msg["type"] == "connection" and msg["status"] == "connected"
    assert re.match(r"^client_1700000000_[a-z0-9]{6}$", msg["client_id"])
    assert msg["protocol_version"] == "1.0"
    assert msg["supported_audio_formats"] == {
        "sample_rates": [16000, 44100, 48000], "encodings": ["pcm16", "float32"], "channels": [1, 2]}
    assert RnntCodec("mine", clock=FakeClock()).client_id == "mine"
    assert new_client_id(5.0) != new_client_id(5.0)


def test_start_recording_maps_config_and_always_asks_for_word_times():
    codec = RnntCodec(engine="speechbrain", clock=FakeClock())
    codec.connected()
    start = started(codec, {"sample_rate": 48000, "encoding": "float32", "channels": 2, "language": "en"})
    cfg = start.config
    assert cfg.engine == "speechbrain" and cfg.enable_word_time_offsets and cfg.interim_results
    assert cfg.encoding == asr_pb2.AUDIO_ENCODING_FLOAT32
    assert (cfg.sample_rate_hertz, cfg.audio_channel_count, cfg.language) == (48000, 2, "en")
    assert codec.state is State.RECORDING
    # float32 stereo frames are 8 bytes
    assert codec.received_bytes(b"\0" * 16) == [SendAudio(b"\0" * 16)]
    [err] = jsons(codec.received_bytes(b"\0" * 12))
    assert err["type"] == "error" and "multiple of 8" in err["error"]


@pytest.mark.parametrize("config, needle", [
    ({"sample_rate": "16000"}, "sample_rate"),
    ({"sample_rate": 4000}, "sample_rate"),
    ({"encoding": "mp3"}, "encoding"),
    ({"channels": 3}, "channels"),
    ({"language": 5}, "language"),
    ({"vad_threshold": 2}, "vad_threshold"),
    ("fast", "config must be an object"),
])
def test_bad_start_config_is_an_error_and_leaves_the_session_idle(config, needle):
    codec = RnntCodec(clock=FakeClock())
    [err] = jsons(codec.received_text(json.dumps({"type": "start_recording", "config": config})))
    assert err["type"] == "error" and needle in err["error"] and ISO.match(err["timestamp"])
    assert codec.state is State.IDLE


@pytest.mark.parametrize("frame, needle", [
    ("{not json", "Malformed JSON"),
    ("[1, 2]", "JSON object"),
    ('{"kind": "ping"}', "no 'type'"),
    ('{"type": "dance"}', "Unknown message type 'dance'"),
    ('{"type": "stop_recording"}', "Not recording"),
    ('{"type": "configure", "vad_threshold": "high"}', "must be a number"),
    ('{"type": "configure"}', "vad_threshold and/or silence_duration"),
])
def test_bad_text_frames_get_error_messages_without_closing(frame, needle):
    codec = RnntCodec(clock=FakeClock())
    actions = codec.received_text(frame)
    [err] = jsons(actions)
    assert set(err) == {"type", "error", "timestamp"} and needle in err["error"]
    assert not any(isinstance(a, Ending) for a in actions)


def test_binary_before_start_and_odd_bytes():
    codec = RnntCodec(clock=FakeClock())
    [err] = jsons(codec.received_bytes(b"\0\0"))
    assert "before start_recording" in err["error"]
    started(codec)
    [err] = jsons(codec.received_bytes(b"\0\0\0"))
    assert "multiple of 2" in err["error"]
    assert codec.received_bytes(b"\1\0") == [SendAudio(b"\1\0")]


def test_ping_pong():
    [msg] = jsons(RnntCodec(clock=FakeClock()).received_text('{"type": "ping"}'))
    assert msg["type"] == "pong"


def test_partial_and_final_results():
    codec = RnntCodec(clock=FakeClock())
    started(codec)
    partial = asr_pb2.RecognitionResult(segment_id=2, text=" This is partially", is_final=False,
                                        processing_time=duration(0.03))
    [p] = jsons(codec.core_response(asr_pb2.RecognizeResponse(result=partial)))
    assert p == {"type": "partial", "segment_id": 2, "text": "This is partially", "is_final": False,
                 "processing_time_ms": 30, "timestamp": p["timestamp"]}
    final = asr_pb2.RecognitionResult(
        segment_id=2, text=" Hello world", is_final=True, confidence=0.9,
        start_offset=duration(1.0), end_offset=duration(3.5), processing_time=duration(0.045),
        words=[asr_pb2.WordInfo(word=" Hello", start_offset=duration(1.0), end_offset=duration(1.5), confidence=0.95),
               asr_pb2.WordInfo(word=" world", start_offset=duration(1.5), end_offset=duration(2.0), confidence=0.92)])
    [f] = jsons(codec.core_response(asr_pb2.RecognizeResponse(result=final)))
    assert f["type"] == "transcription" and f["segment_id"] == 2 and f["is_final"] is True
    assert f["text"] == "Hello world" and f["duration"] == 2.5 and f["processing_time_ms"] == 45
    assert f["words"] == [{"word": "Hello", "start": 1.0, "end": 1.5, "confidence": 0.95},
                          {"word": "world", "start": 1.5, "end": 2.0, "confidence": 0.92}]
    assert ISO.match(f["timestamp"])
    # empty hypotheses are not worth a message
    assert codec.core_response(asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text=" "))) == []


def test_stop_recording_then_summary_then_a_second_recording():
    codec = RnntCodec(clock=FakeClock())
    started(codec)
    assert codec.received_text('{"type": "stop_recording"}') == [EndAudio()]
    [err] = jsons(codec.received_bytes(b"\0\0"))
    assert "after stop_recording" in err["error"]
    summary = asr_pb2.SessionSummary(audio_processed=duration(10.5), segment_count=5, transcript="a b c")
    [msg] = jsons(codec.core_response(asr_pb2.RecognizeResponse(summary=summary)))
    assert msg["type"] == "recording_stopped" and msg["final_transcript"] == "a b c"
    assert msg["total_duration"] == 10.5 and msg["total_segments"] == 5 and ISO.match(msg["timestamp"])
    assert codec.core_finished() == []
    started(codec)  # the connection stays usable


def test_configure_maps_energy_threshold_and_waits_for_the_core():
    assert vad_probability(0.01) == 0.5
    assert vad_probability(0.02) == pytest.approx(0.6)
    assert vad_probability(0.005) == pytest.approx(0.4)
    assert vad_probability(0.0001) == 0.1
    assert vad_probability(0.7) == 0.7
    codec = RnntCodec(clock=FakeClock())
    # before recording: stored and acknowledged at once
    [msg] = jsons(codec.received_text('{"type": "configure", "vad_threshold": 0.02}'))
    assert msg["type"] == "configured" and msg["config"]["vad_threshold"] == 0.02
    assert msg["config"]["vad_probability_threshold"] == pytest.approx(0.6)
    start = started(codec)
    assert start.config.vad.threshold == pytest.approx(0.6)
    [control] = codec.received_text('{"type": "configure", "vad_threshold": 0.01, "silence_duration": 0.8}')
    assert isinstance(control, SendControl)
    vad = control.control.update_settings.vad
    assert vad.threshold == pytest.approx(0.5) and vad.min_silence_duration.ToNanoseconds() == 800_000_000
    applied = asr_pb2.SettingsUpdated(vad=asr_pb2.VadConfig(threshold=0.5, min_silence_duration=duration(0.8)))
    [msg] = jsons(codec.core_response(asr_pb2.RecognizeResponse(settings_updated=applied)))
    assert msg["type"] == "configured"
    assert msg["config"]["vad_threshold"] == 0.01 and msg["config"]["silence_duration"] == 0.8


def test_core_errors_become_error_messages():
    codec = RnntCodec(clock=FakeClock())
    started(codec)
    [msg] = jsons(codec.core_error(CoreError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many sessions", retry_after=7)))
    assert msg["type"] == "error" and "retry" in msg["error"].lower() and "7 s" in msg["error"]
    assert codec.state is State.IDLE
    codec.received_text('{"type": "start_recording"}')
    [msg] = jsons(codec.core_error(CORE_DOWN))
    assert_core_down_wording(msg["error"].lower())


def test_limits_server_full_session_length_and_idle():
    clock = FakeClock()
    actions = RnntCodec(clock=clock).refused(Refusal.MAX_CONNECTIONS, "at limit")
    assert "Server full" in jsons(actions)[0]["error"] and close_of(actions[-1])[0] == 1013
    actions = RnntCodec(clock=clock).ending(EndReason.SHUTDOWN)
    assert "shutting down" in jsons(actions)[0]["error"] and not any(isinstance(a, Ending) for a in actions)
    [err] = jsons(RnntCodec(clock=clock).frame_too_large(9000, 8192))
    assert "8192" in err["error"]


def test_session_duration_counts_per_recording_said_once_then_recording_stopped_and_close():
    clock = FakeClock()
    codec = RnntCodec(clock=clock, settings=RnntSettings(max_recording_seconds=60))
    codec.connected()
    clock.now += 3600  # an hour connected without recording counts for nothing
    started(codec)
    assert codec.received_bytes(b"\0\0") == [SendAudio(b"\0\0")]
    assert codec.idle_timeout(30.0) == 30.0
    clock.now += 40
    codec.received_bytes(b"\0\0")
    assert codec.idle_timeout(30.0) == pytest.approx(20.0)  # the limit comes before the idle rule
    clock.now += 21
    actions = codec.received_bytes(b"\0\0")  # checked as frames arrive (and by the timer)
    [error] = jsons(actions)
    assert "Maximum session duration of 1 minutes reached" in error["error"] and actions[-1] == EndAudio()
    for _ in range(20):  # a client still streaming is not answered frame by frame
        assert codec.received_bytes(b"\0\0") == []
    summary = asr_pb2.SessionSummary(transcript="every word", segment_count=1)
    actions = codec.core_response(asr_pb2.RecognizeResponse(summary=summary))
    [stopped] = jsons(actions)
    assert stopped["type"] == "recording_stopped" and stopped["final_transcript"] == "every word"
    assert close_of(actions[-1])[0] == 1008 and codec.core_finished() == []


def test_recording_limit_by_the_timer_when_the_client_sends_nothing():
    clock = FakeClock()
    codec = RnntCodec(clock=clock, limits=replace(LIMITS, idle_timeout=1000),
                      settings=RnntSettings(max_recording_seconds=60))
    started(codec)
    clock.now += 60
    actions = codec.idle()
    assert "Maximum session duration" in jsons(actions)[0]["error"] and actions[-1] == EndAudio()


def test_idle_during_a_recording_finishes_it_first_then_closes():
    codec = RnntCodec(clock=FakeClock())
    codec.connected()
    assert codec.idle_timeout(30.0) is None  # connected on page load, Start not pressed yet
    started(codec)
    assert codec.idle_timeout(30.0) == 30.0
    actions = codec.idle()
    assert "idle" in jsons(actions)[0]["error"] and actions[-1] == EndAudio()
    final = asr_pb2.RecognitionResult(text="Ask not!", is_final=True, segment_id=2)
    assert jsons(codec.core_response(asr_pb2.RecognizeResponse(result=final)))[0]["text"] == "Ask not!"
    summary = asr_pb2.SessionSummary(transcript="And so, ask not!", segment_count=2)
    actions = codec.core_response(asr_pb2.RecognizeResponse(summary=summary))
    assert jsons(actions)[0]["type"] == "recording_stopped" and close_of(actions[-1])[0] == 1000


def test_an_invalid_language_is_said_once():
    codec = RnntCodec(clock=FakeClock())
    started(codec)
    why = "unsupported language 'xx' for whisper; use a BCP-47 tag whose language Whisper knows"
    error = CoreError(grpc.StatusCode.INVALID_ARGUMENT, f"{why} (error id 1a2b3c4d)", field_violations=(("config.language", why),))
    [msg] = jsons(codec.core_error(error))
    assert msg["error"].count("unsupported language") == 1 and "config.language" in msg["error"], msg


def test_start_recording_right_after_recording_stopped_is_not_lost():
    codec = RnntCodec(clock=FakeClock())
    started(codec)
    codec.received_text('{"type": "stop_recording"}')
    codec.core_response(asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(transcript="one")))
    # The core call has not ended yet (its OK status is still queued) when the client starts again.
    assert codec.received_text('{"type": "start_recording"}') == []
    assert codec.received_bytes(b"\1\0" * 800) == []  # held
    actions = codec.core_finished()
    assert isinstance(actions[0], StartStream) and actions[1:] == [SendAudio(b"\1\0" * 800)]
    out = codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(session_id="s2")))
    assert jsons(out)[0]["type"] == "recording_started"


def test_iso_timestamp_format():
    assert iso_timestamp(0.5) == "1970-01-01T00:00:00.500Z"


def test_a_128_character_client_id_records_and_a_bad_one_is_refused():
    codec = RnntCodec("c" * 128, clock=FakeClock())
    assert jsons(codec.connected())[0]["client_id"] == "c" * 128
    session_id = started(codec).config.session_id
    assert len(session_id) <= 128 and session_id.startswith("c" * 100), session_id  # the core accepts it
    bad = RnntCodec("two words\n", clock=FakeClock())
    actions = bad.connected()
    assert "Invalid client_id" in jsons(actions)[0]["error"] and close_of(actions[-1]) == (1008, actions[-1].reason)
