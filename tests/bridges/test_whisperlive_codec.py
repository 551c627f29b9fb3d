"""WhisperLiveCodec without sockets."""
from __future__ import annotations

import json

import numpy as np
import grpc
import pytest

from asr.v1 import asr_pb2
from bridges.codec import EndAudio, EndReason, Refusal, SendAudio, SendControl, StartStream
from bridges.endings import Ending
from bridges.faults import CoreError
from bridges.whisperlive.slots import Slots
from bridge_helpers import close_of, CORE_DOWN, assert_core_down_wording
from bridges.whisperlive.codec import WhisperLiveCodec, WhisperLiveSettings
from bridges.whisperlive.options import ServerDefaults, choose_model
from tests.support import FakeClock, duration, jsons

UID = "3f1c0a9e-uid"
OPTIONS = {"uid": UID, "language": "en", "task": "transcribe", "model": "tiny.en", "use_vad": True,
           "send_last_n_segments": 2, "no_speech_thresh": 0.45, "clip_audio": False,
           "same_output_threshold": 10, "enable_translation": False, "target_language": "fr",
           "hotwords": None, "enable_diarization": False, "max_speakers": 10, "known_speakers": [],
           "word_timestamps": False, "initial_prompt": None, "vad_parameters": None}


def result(text: str, final: bool, start: float, end: float, **kw) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(
        text=text, is_final=final, start_offset=duration(start), end_offset=duration(end), **kw))


def ready(codec: WhisperLiveCodec, **overrides) -> StartStream:
    actions = codec.received_text(json.dumps({**OPTIONS, **overrides}))
    [start] = [a for a in actions if isinstance(a, StartStream)]
    [msg] = jsons(codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted())))
    assert msg == {"uid": overrides.get("uid", UID), "message": "SERVER_READY", "backend": "faster_whisper"}
    return start


def test_options_map_to_streaming_config():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    cfg = ready(codec, vad_parameters={"threshold": 0.6, "min_silence_duration_ms": 700}, word_timestamps=True).config
    assert cfg.encoding == asr_pb2.AUDIO_ENCODING_FLOAT32 and cfg.sample_rate_hertz == 16000
    assert cfg.model == "tiny.en" and cfg.language == "en" and cfg.task == asr_pb2.TASK_TRANSCRIBE
    assert cfg.interim_results and cfg.enable_word_time_offsets and cfg.vad.enabled
    assert cfg.vad.threshold == pytest.approx(0.6) and cfg.vad.min_silence_duration.ToMilliseconds() == 700
    int16 = ready(WhisperLiveCodec(clock=FakeClock(100.0)), audio_format="int16", task="translate", language=None,
                  use_vad=False).config
    assert int16.encoding == asr_pb2.AUDIO_ENCODING_LINEAR16 and int16.task == asr_pb2.TASK_TRANSLATE
    assert int16.model == "base" and int16.language == "" and not int16.vad.enabled


def test_initial_prompt_and_hotwords_reach_the_engine():
    cfg = ready(WhisperLiveCodec(clock=FakeClock(100.0)), initial_prompt="Minutes of the infra sync",
                hotwords="Siobhan Quigley, kubectl").config
    assert cfg.prompt == "Minutes of the infra sync"
    assert list(cfg.hotwords) == ["Siobhan Quigley", "kubectl"]
    as_list = ready(WhisperLiveCodec(clock=FakeClock(100.0)), hotwords=["ComfyUI"]).config
    assert list(as_list.hotwords) == ["ComfyUI"]


@pytest.mark.parametrize("requested, language, task, model, warns", [
    ("tiny.en", "en", "transcribe", "tiny.en", False),
    ("tiny", "en", "transcribe", "tiny.en", False),
    ("tiny.en", None, "transcribe", "base", True),
    ("base", None, "translate", "base", False),
    ("small", "en", "transcribe", "base", True),
    ("large-v3", "ar", "transcribe", "base", True),
    ("Systran/faster-whisper-base", "en", "transcribe", "base", False),
    ("my-custom-model", "en", "transcribe", "base", True),
])
def test_model_mapping(requested, language, task, model, warns):
    choice = choose_model(requested, language, task)
    assert choice.model == model and (choice.warning is not None) == warns


def test_substituted_model_is_announced_as_a_warning_before_the_stream_starts():
    actions = WhisperLiveCodec(clock=FakeClock(100.0)).received_text(json.dumps({**OPTIONS, "model": "small"}))
    [warning] = jsons(actions)
    assert warning["status"] == "WARNING" and "'small'" in warning["message"] and warning["uid"] == UID
    assert isinstance(actions[-1], StartStream)


@pytest.mark.parametrize("frame, needle", [
    ("not json", "not valid JSON"),
    ("[1]", "JSON object"),
    (json.dumps({k: v for k, v in OPTIONS.items() if k != "uid"}), "'uid'"),
    (json.dumps({**OPTIONS, "task": "summarize"}), "'task'"),
    (json.dumps({**OPTIONS, "use_vad": "yes"}), "'use_vad'"),
    (json.dumps({**OPTIONS, "audio_format": "mp3"}), "'audio_format'"),
    (json.dumps({**OPTIONS, "send_last_n_segments": 0}), "'send_last_n_segments'"),
])
def test_bad_options_get_an_error_status_naming_the_problem_then_close(frame, needle):
    actions = WhisperLiveCodec(clock=FakeClock(100.0)).received_text(frame)
    [msg] = jsons(actions)
    assert msg["status"] == "ERROR" and needle in msg["message"]
    assert isinstance(actions[-1], Ending)
    if "uid" in frame:
        assert msg["uid"] == UID


def test_audio_end_of_audio_and_odd_frames():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    [err] = jsons(codec.received_bytes(b"\0" * 8))
    assert err["status"] == "ERROR" and "options" in err["message"]
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    ready(codec)
    samples = np.zeros(4096, dtype="<f4").tobytes()
    assert codec.received_bytes(samples) == [SendAudio(samples)]
    [warn] = jsons(codec.received_bytes(b"\0" * 6))
    assert warn["status"] == "WARNING" and "multiple of 4" in warn["message"]
    assert codec.received_bytes(b"END_OF_AUDI0") == [SendAudio(b"END_OF_AUDI0")]  # 12 bytes, not the marker
    assert codec.received_bytes(b"END_OF_AUDIO") == [EndAudio()]
    late = codec.received_bytes(samples)  # audio after the end: dropped, with a WARNING (issue 8)
    assert [a.payload["status"] for a in late] == ["WARNING"]
    assert [close_of(a) for a in codec.core_finished()] == [(1000, "end of audio")]


def echo(segment: dict) -> dict:
    return {**segment, "completed": False}


def test_segments_resend_last_n_with_frozen_times_and_partial_last():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    ready(codec)
    [m] = jsons(codec.core_response(result("Hello", False, 0.2, 0.9)))
    assert m == {"uid": UID, "segments": [{"start": "0.200", "end": "0.900", "text": " Hello", "completed": False}]}
    [m] = jsons(codec.core_response(result("Hello world.", True, 0.2, 1.4)))
    first = {"start": "0.200", "end": "1.400", "text": " Hello world.", "completed": True}
    # no open utterance: the finished text is repeated as the trailing incomplete segment
    assert m["segments"] == [first, echo(first)]
    # a later segment whose padded start overlaps the previous end is clamped, never before it
    [m] = jsons(codec.core_response(result(" Second one.", True, 1.3, 2.5)))
    second = {"start": "1.400", "end": "2.500", "text": " Second one.", "completed": True}
    assert m["segments"] == [first, second, echo(second)]
    [m] = jsons(codec.core_response(result("Third", False, 3.0, 3.5)))
    assert m["segments"] == [first, second, {"start": "3.000", "end": "3.500", "text": " Third", "completed": False}]
    [m] = jsons(codec.core_response(result("Third time.", True, 3.0, 4.0)))
    assert m["segments"][0] == second and len(m["segments"]) == 3  # send_last_n_segments=2, plus the echo
    # nothing new: no message, and never an empty list
    assert codec.core_response(result(" ", False, 4.0, 4.1)) == []
    for msg in jsons(codec.core_response(result("", True, 4.0, 4.5))):
        assert msg["segments"]


def test_language_detection_message_once_and_never_mixed_with_segments():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    ready(codec, language=None, model="base")
    msgs = jsons(codec.core_response(result(" Hola", False, 0, 1, language="es", language_probability=0.93)))
    assert msgs[0] == {"uid": UID, "language": "es", "language_prob": 0.93}
    assert "language" not in msgs[1] and "status" not in msgs[1] and msgs[1]["segments"]
    msgs = jsons(codec.core_response(result(" Hola amigo", False, 0, 1.5, language="es", language_probability=0.95)))
    assert len(msgs) == 1 and "segments" in msgs[0]


def test_wait_when_full_with_minutes_until_a_slot_frees():
    clock, slots = FakeClock(100.0), Slots(1)
    settings = WhisperLiveSettings(max_clients=1, max_connection_time=600)
    first = WhisperLiveCodec(settings, slots=slots, clock=clock)
    ready(first)
    clock.now += 120
    second = WhisperLiveCodec(settings, slots=slots, clock=clock)
    actions = second.received_text(json.dumps({**OPTIONS, "uid": "other"}))
    assert jsons(actions) == [{"uid": "other", "status": "WAIT", "message": 8.0}]
    assert isinstance(actions[-1], Ending)
    first.closed()
    ready(WhisperLiveCodec(settings, slots=slots, clock=clock), uid="third")


def test_disconnect_after_the_servers_max_connection_time_comes_from_the_runtime_timer_only():
    clock = FakeClock(100.0)
    settings = WhisperLiveSettings(max_connection_time=10)
    codec = WhisperLiveCodec(settings, clock=clock)
    ready(codec)
    assert codec.idle_timeout(None) is None  # the runtime's max-session timer calls ending()
    clock.now += 11
    assert codec.received_bytes(b"\0" * 16) == [SendAudio(b"\0" * 16)]  # enforced once: not on frames too
    actions = codec.ending(EndReason.MAX_DURATION)
    assert jsons(actions) == [{"uid": UID, "message": "DISCONNECT"}] and close_of(actions[-1]) == (1000, "max connection time")


def test_a_clients_lower_max_connection_time_is_timed_by_the_codec():
    clock = FakeClock(100.0)
    codec = WhisperLiveCodec(WhisperLiveSettings(max_connection_time=10), clock=clock)
    ready(codec, max_connection_time=4)
    assert codec.idle_timeout(None) == pytest.approx(4.0)
    clock.now += 5
    actions = codec.received_bytes(b"\0" * 16)
    assert jsons(actions) == [{"uid": UID, "message": "DISCONNECT"}] and close_of(actions[-1]) == (1000, "max connection time")


def test_audio_gap_finalizes_the_open_partial_once():
    clock = FakeClock(100.0)
    codec = WhisperLiveCodec(clock=clock)
    ready(codec)
    codec.received_bytes(b"\0" * 4)
    codec.core_response(result(" Hello", False, 0.2, 0.9))
    assert codec.idle_timeout(None) == 1.5  # the runtime calls idle() after 1.5 s without audio
    clock.now += 2
    [control] = codec.idle()
    assert isinstance(control, SendControl) and control.control.HasField("finalize")
    assert codec.idle_timeout(None) is None and codec.idle() == []


def test_core_errors():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    codec.received_text(json.dumps(OPTIONS))
    actions = codec.core_error(CoreError(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", retry_after=90))
    assert jsons(actions) == [{"uid": UID, "status": "WAIT", "message": 1.5}] and isinstance(actions[-1], Ending)
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    codec.received_text(json.dumps(OPTIONS))
    [msg] = jsons(codec.core_error(CORE_DOWN))
    assert msg["status"] == "ERROR"
    assert_core_down_wording(msg["message"].lower())


def test_runtime_hooks_idle_gap_ending_and_refusal():
    clock = FakeClock(100.0)
    codec = WhisperLiveCodec(clock=clock)
    assert codec.idle_timeout(60.0) == 30.0  # waiting for the options frame
    actions = WhisperLiveCodec(clock=clock).idle()
    assert jsons(actions)[0]["status"] == "ERROR" and isinstance(actions[-1], Ending)
    ready(codec)
    assert codec.idle_timeout(60.0) is None  # like the reference: a paused user keeps the session
    codec.received_bytes(b"\0" * 4)
    codec.core_response(result(" Hello", False, 0.2, 0.9))
    assert codec.idle_timeout(60.0) == 1.5  # a partial is open: short audio-gap timer
    assert isinstance(codec.idle()[0], SendControl)
    assert codec.idle_timeout(60.0) is None

    codec = WhisperLiveCodec(clock=clock)
    ready(codec)
    actions = codec.ending(EndReason.MAX_DURATION)
    assert jsons(actions) == [{"uid": UID, "message": "DISCONNECT"}] and close_of(actions[-1]) == (1000, "max connection time")
    codec = WhisperLiveCodec(clock=clock)
    ready(codec)
    assert jsons(codec.ending(EndReason.SHUTDOWN)) == [{"uid": UID, "message": "DISCONNECT"}]

    codec = WhisperLiveCodec(clock=clock)
    assert codec.refused(Refusal.MAX_CONNECTIONS, "full") == []  # answered once the uid is known
    actions = codec.received_text(json.dumps(OPTIONS))
    assert jsons(actions)[0]["status"] == "WAIT" and isinstance(actions[-1], Ending)


def test_options_without_language_task_model_take_the_server_defaults():
    codec = WhisperLiveCodec(WhisperLiveSettings(defaults=ServerDefaults(model="tiny.en", language="en")), clock=FakeClock(100.0))
    actions = codec.received_text(json.dumps({"uid": UID}))
    [start] = [a for a in actions if isinstance(a, StartStream)]
    assert (start.config.model, start.config.language, start.config.task) == ("tiny.en", "en", asr_pb2.TASK_TRANSCRIBE)
    assert not jsons(actions)


def test_server_model_and_no_vad_apply_to_every_session():
    settings = WhisperLiveSettings(defaults=ServerDefaults(model="base", use_vad=False))
    codec = WhisperLiveCodec(settings, clock=FakeClock(100.0))
    actions = codec.received_text(json.dumps(OPTIONS))  # asks for tiny.en with use_vad true
    [warning] = jsons(actions)
    assert warning["status"] == "WARNING" and "'base'" in warning["message"]
    [start] = [a for a in actions if isinstance(a, StartStream)]
    assert start.config.model == "base" and not start.config.vad.enabled


def test_options_as_a_binary_frame_and_uint8_audio():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    actions = codec.received_bytes(json.dumps({**OPTIONS, "audio_format": "uint8"}).encode())
    [start] = [a for a in actions if isinstance(a, StartStream)]
    assert start.config.encoding == asr_pb2.AUDIO_ENCODING_LINEAR16
    codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted()))
    [audio] = codec.received_bytes(bytes([128, 255, 0]))  # any length: one byte per sample
    assert np.frombuffer(audio.audio, "<i2").tolist() == [0, 127 * 256, -128 * 256]


def test_without_vad_segments_end_at_pauses_and_by_length():
    codec = WhisperLiveCodec(clock=FakeClock(100.0))
    ready(codec, use_vad=False)
    tone = (0.3 * np.sin(np.arange(16000) / 3)).astype("<f4")

    def finalizes(samples: np.ndarray) -> int:
        return sum(isinstance(a, SendControl) and a.control.HasField("finalize")
                   for a in codec.received_bytes(samples.astype("<f4").tobytes()))

    assert finalizes(tone) == 0
    assert finalizes(np.zeros(4096, np.float32)) == 0  # 0.26 s is a pause between words
    assert finalizes(np.zeros(8000, np.float32)) == 1  # 0.76 s: the segment ends
    assert finalizes(np.zeros(16000, np.float32)) == 0  # silence alone starts no segment
    talk = np.concatenate([tone] * 12 + [tone[:3200] * 0.05] + [tone])  # 12 s, one quiet moment
    assert finalizes(talk) == 1


def test_a_final_does_not_replace_the_next_utterances_partial():
    clock = FakeClock(100.0)
    codec = WhisperLiveCodec(clock=clock)
    ready(codec)
    codec.received_bytes(b"\0" * 4)
    codec.core_response(result("One", False, 0.0, 0.5, segment_id=1))
    codec.core_response(result("Two", False, 1.0, 1.5, segment_id=2))  # utterance 2 began
    [m] = jsons(codec.core_response(result("One.", True, 0.0, 0.8, segment_id=1)))  # utterance 1's final
    assert m["segments"][-1] == {"start": "1.000", "end": "1.500", "text": " Two", "completed": False}
    clock.now += 2  # the client stopped sending: the open partial is still finalized
    assert codec.idle_timeout(None) == 1.5 and isinstance(codec.idle()[0], SendControl)


def test_a_lower_max_connection_time_is_kept_and_bad_limits_refused():
    clock = FakeClock(100.0)
    codec = WhisperLiveCodec(WhisperLiveSettings(max_connection_time=600), clock=clock)
    codec.received_text(json.dumps({**OPTIONS, "max_connection_time": 30, "max_clients": 4}))
    codec.core_response(asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted()))
    assert codec.idle_timeout(None) == 30  # the client's limit, timed without frames
    clock.now += 30
    assert jsons(codec.idle()) == [{"uid": UID, "message": "DISCONNECT"}]
    for bad in ({"max_connection_time": "600"}, {"max_clients": 2.5}, {"max_connection_time": -1}):
        refused = WhisperLiveCodec(clock=FakeClock(100.0)).received_text(json.dumps({**OPTIONS, **bad}))
        assert jsons(refused)[0]["status"] == "ERROR" and next(iter(bad)) in jsons(refused)[0]["message"]
