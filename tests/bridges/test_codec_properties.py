"""Property tests for every dialect codec (issue 8): any sequence of client text frames, binary
frames, core responses, core errors and runtime events never raises, and only produces actions
of the dialect's documented shapes. Client input never closes with 1011 (that code is for the
service's own failures); every message is plain JSON (no NaN, no bytes).
"""
from __future__ import annotations

import base64
import json
from typing import Any, Callable

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.v1 import asr_pb2
from bridges.codec import Action, Codec, EndAudio, EndReason, SendAudio, SendControl, SendJson, StartStream
from bridges.endings import EndKind, Ending, ws_close_code
from bridges.faults import CoreError
from bridges.deepgram.live import LiveCodec
from bridges.funasr.codec import FunAsrCodec
from bridges.google_stt.codec import GoogleSttCodec
from bridges.hygiene import CORE_SESSION_ID
from bridges.nexa.codec import NexaCodec
from bridges.rnnt.codec import RnntCodec
from bridges.whisperlive.codec import WhisperLiveCodec, WhisperLiveSettings
from bridges.whisperlive.slots import Slots
from bridges.vosk.codec import VoskCodec
from bridges.wyoming.codec import WyomingCodec
from tests.support import FakeClock, duration

EXAMPLES = settings(max_examples=1000, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACTION_TYPES = (SendJson, StartStream, SendAudio, SendControl, EndAudio, Ending)
INPUT_CLOSE_CODES = {1000, 1001, 1003, 1007, 1008, 1009, 1013}


# ---- generated traffic ---------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
HOSTILE_TEXT = ["[" * 5000, "{" * 3000, '{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', '{"a": ' + "9" * 5000 + "}",
                "", " ", "null", "[]", "42", '"text"', "\ud800", "END_OF_AUDIO", '{"type": ' + "[" * 900 + "]" * 900 + "}"]


def text_frames(valid: list[dict[str, Any]], keys: list[str]) -> st.SearchStrategy[str]:
    """Valid dialect messages, the same with one field replaced by anything, hostile and random text."""
    mutated = st.builds(lambda msg, key, value: json.dumps({**msg, key: value}),
                        st.sampled_from(valid), st.sampled_from(keys), json_values)
    return st.one_of(st.sampled_from([json.dumps(m) for m in valid]), mutated, st.sampled_from(HOSTILE_TEXT),
                     st.text(max_size=40), json_values.map(json.dumps))


binary_frames = st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"\x00", b"\x00" * 3200, b"END_OF_AUDIO"]))


@st.composite
def core_responses(draw: Callable) -> asr_pb2.RecognizeResponse:
    kind = draw(st.sampled_from(["session_started", "result", "speech_event", "settings_updated", "summary"]))
    if kind == "session_started":
        return asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(
            session_id=draw(st.text(max_size=10)), engine="whisper", model=draw(st.sampled_from(["tiny.en", "base", ""]))))
    if kind == "result":
        start = draw(st.floats(0, 100))
        result = asr_pb2.RecognitionResult(
            segment_id=draw(st.integers(0, 1000)), text=draw(st.text(max_size=30)), is_final=draw(st.booleans()),
            stability=draw(st.floats(0, 1)), confidence=draw(st.floats(0, 1)), language=draw(st.sampled_from(["", "en", "ar"])),
            language_probability=draw(st.floats(0, 1)))
        result.start_offset.CopyFrom(duration(start))
        result.end_offset.CopyFrom(duration(start + draw(st.floats(0, 20))))
        for word in draw(st.lists(st.text(max_size=8), max_size=3)):
            result.words.add(word=word, confidence=0.5)
        return asr_pb2.RecognizeResponse(result=result)
    if kind == "speech_event":
        return asr_pb2.RecognizeResponse(speech_event=asr_pb2.SpeechEvent(type=draw(st.sampled_from([1, 2]))))
    if kind == "settings_updated":
        return asr_pb2.RecognizeResponse(settings_updated=asr_pb2.SettingsUpdated())
    return asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(transcript=draw(st.text(max_size=30)),
                                                                  segment_count=draw(st.integers(0, 50))))


core_errors = st.builds(CoreError, st.sampled_from(list(grpc.StatusCode)[1:]),
                        st.text(max_size=30), st.none() | st.floats(0, 120),
                        field_violations=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)),
                                                  max_size=2).map(tuple))


def events(text: st.SearchStrategy[str]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    one = st.one_of(
        st.tuples(st.just("text"), text), st.tuples(st.just("text"), text), st.tuples(st.just("binary"), binary_frames),
        st.tuples(st.just("core"), core_responses()), st.tuples(st.just("core_error"), core_errors),
        st.tuples(st.just("other"), st.sampled_from(["core_finished", "idle", "too_large", "shutdown",
                                                     "max_duration", "idle_timeout"])))
    return st.lists(one, min_size=1, max_size=14)


def run(codec: Codec, clock: FakeClock, sequence: list[tuple[str, Any]], check: Callable[[dict[str, Any]], None]) -> None:
    """Feed the sequence; check every action; client input never closes with 1011."""
    for action in codec.connected():
        check_action(action, check)
    for kind, value in sequence:
        clock.now += 0.25
        if kind == "text":
            actions = codec.received_text(value)
        elif kind == "binary":
            actions = codec.received_bytes(value)
        elif kind == "core":
            actions = codec.core_response(value)
        elif kind == "core_error":
            actions = codec.core_error(value)
        elif value == "core_finished":
            actions = codec.core_finished()
        elif value == "idle":
            actions = codec.idle()
        elif value == "too_large":
            actions = codec.frame_too_large(10**7, 65536)
        elif value in ("shutdown", "max_duration"):
            actions = codec.ending(EndReason(value))
        else:
            timeout = codec.idle_timeout(30.0)
            assert timeout is None or timeout > 0
            actions = []
        assert isinstance(actions, list)
        for action in actions:
            check_action(action, check)
            if kind in ("text", "binary") or value == "too_large":
                assert not (isinstance(action, Ending) and (action.kind is EndKind.INTERNAL
                                                            or ws_close_code(action) not in INPUT_CLOSE_CODES)), \
                    (kind, value, action)
    codec.closed()


def check_action(action: Action, check: Callable[[dict[str, Any]], None]) -> None:
    assert isinstance(action, ACTION_TYPES), action
    if isinstance(action, SendJson):
        json.dumps(action.payload, allow_nan=False)
        check(action.payload)
    elif isinstance(action, Ending):
        assert 1000 <= ws_close_code(action) <= 4999 and isinstance(action.reason, str), action  # the pump cuts reasons to 120 bytes
        assert action.retry_after is None or action.retry_after >= 0, action
    elif isinstance(action, SendAudio):
        assert isinstance(action.audio, bytes) and action.audio
    elif isinstance(action, StartStream):
        session_id = action.config.session_id
        assert not session_id or CORE_SESSION_ID.match(session_id), session_id  # the core's id rule


def has(payload: dict[str, Any], **types: type | tuple[type, ...]) -> None:
    for key, kind in types.items():
        assert isinstance(payload.get(key), kind), (key, payload)


# ---- one test per dialect -------------------------------------------------------------------
def nexa_shape(p: dict[str, Any]) -> None:
    assert p["type"] in ("partial", "final", "error"), p
    if p["type"] == "error":
        has(p, error=str)
    else:
        has(p, text=str, confidence=(int, float), timestamp=int, is_final=bool)


@EXAMPLES
@given(events(text_frames([{}, {"action": "stop"}, {"model": "parakeet", "language": "en-US", "sample_rate": 16000,
                                                       "enable_word_timestamps": True}],
                          ["model", "language", "sample_rate", "chunk_duration", "beam_size", "action"])))
def test_nexa_codec_never_raises_and_speaks_nexa(sequence):
    clock = FakeClock()
    run(NexaCodec(clock=clock), clock, sequence, nexa_shape)


def google_shape(p: dict[str, Any]) -> None:
    assert p["type"] in ("metadata", "transcript", "error", "complete"), p
    if p["type"] == "error":
        has(p, detail=str)
    elif p["type"] == "transcript":
        has(p, text=str, is_final=bool, confidence=(int, float))
    elif p["type"] == "metadata":
        assert p["status"] == "ready"


@EXAMPLES
@given(events(text_frames([{"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16"},
                           {"type": "end"}, {"action": "stop"}],
                          ["language_code", "sample_rate_hertz", "encoding", "type"])))
def test_google_stt_codec_never_raises_and_speaks_google_stt(sequence):
    run(GoogleSttCodec(), FakeClock(), sequence, google_shape)


FUNASR_CODES = {"SESSION_ERROR", "INVALID_AUDIO_FORMAT", "MODEL_UNAVAILABLE", "BUFFER_OVERFLOW", "CONNECTION_TIMEOUT",
                "MODEL_LOADED", "PROCESSING_AUDIO", "SESSION_STARTED", "SESSION_STOPPED"}


def funasr_shape(p: dict[str, Any]) -> None:
    assert p["type"] in ("recognition_result", "status", "error"), p
    if p["type"] == "recognition_result":
        has(p, text=str, is_final=bool, timestamp=str, confidence=(int, float))
    else:
        has(p, message=str, code=str)
        assert p["code"] in FUNASR_CODES, p
        if p["type"] == "error":
            has(p, details=str)


PCM = base64.b64encode(b"\x01\x00" * 800).decode()


@EXAMPLES
@given(events(text_frames([{"type": "start_recording"}, {"type": "audio_chunk", "data": PCM},
                           {"type": "stop_recording"}, {"type": "start_recording", "format": "int16", "sample_rate": 8000}],
                          ["type", "data", "format", "sample_rate", "channels"])))
def test_funasr_codec_never_raises_and_speaks_funasr(sequence):
    clock = FakeClock()
    run(FunAsrCodec("client-1", clock=clock), clock, sequence, funasr_shape)


RNNT_TYPES = {"connection", "recording_started", "partial", "transcription", "configured", "recording_stopped",
              "error", "pong"}


def rnnt_shape(p: dict[str, Any]) -> None:
    assert p["type"] in RNNT_TYPES, p
    if p["type"] == "error":
        has(p, error=str, timestamp=str)
    elif p["type"] in ("partial", "transcription"):
        has(p, text=str, is_final=bool, segment_id=int)


@EXAMPLES
@given(events(text_frames([{"type": "start_recording"}, {"type": "stop_recording"}, {"type": "ping"},
                           {"type": "configure", "vad_threshold": 0.5, "silence_duration": 0.8},
                           {"type": "start_recording", "config": {"sample_rate": 16000, "encoding": "float32",
                                                                   "channels": 2, "language": "en"}}],
                          ["type", "config", "vad_threshold", "silence_duration"])))
def test_rnnt_codec_never_raises_and_speaks_rnnt(sequence):
    clock = FakeClock()
    run(RnntCodec("c" * 128, clock=clock), clock, sequence, rnnt_shape)


def whisperlive_shape(p: dict[str, Any]) -> None:
    has(p, uid=str)
    if "status" in p:
        assert p["status"] in ("WAIT", "ERROR", "WARNING") and "message" in p, p
    elif "message" in p:
        assert p["message"] in ("SERVER_READY", "DISCONNECT"), p
    elif "segments" in p:
        for segment in p["segments"]:
            has(segment, start=str, end=str, text=str, completed=bool)
    else:
        has(p, language=str, language_prob=(int, float))


WL_OPTIONS = {"uid": "6d2b8c1e-1f2a-4c3b-9d4e-5f6a7b8c9d0e", "language": "en", "task": "transcribe", "model": "tiny.en",
              "use_vad": True, "send_last_n_segments": 3}


@EXAMPLES
@given(events(text_frames([WL_OPTIONS, {**WL_OPTIONS, "language": None, "audio_format": "int16"}],
                          ["uid", "language", "task", "model", "use_vad", "send_last_n_segments", "audio_format",
                           "vad_parameters"])))
def test_whisperlive_codec_never_raises_and_speaks_whisperlive(sequence):
    clock = FakeClock()
    codec = WhisperLiveCodec(WhisperLiveSettings(), slots=Slots(2), clock=clock)
    run(codec, clock, sequence, whisperlive_shape)
    assert len(codec.segments.completed) <= codec.segments.last_n


def deepgram_shape(p: dict[str, Any]) -> None:
    assert p["type"] in ("Results", "Metadata", "SpeechStarted", "UtteranceEnd", "Error"), p
    if p["type"] == "Results":
        has(p, is_final=bool, speech_final=bool, from_finalize=bool, channel=dict, channel_index=list)
    elif p["type"] == "Error":
        has(p, description=str)


@EXAMPLES
@given(events(text_frames([{"type": "KeepAlive"}, {"type": "Finalize"}, {"type": "CloseStream"}], ["type"])))
def test_deepgram_live_codec_never_raises_and_speaks_deepgram(sequence):
    query = {"encoding": "linear16", "sample_rate": "16000", "interim_results": "true", "vad_events": "true",
             "utterance_end_ms": "1000"}
    run(LiveCodec(query), FakeClock(), sequence, deepgram_shape)


WYOMING_EVENTS = {"info", "transcript-start", "transcript-chunk", "transcript", "transcript-stop", "error", "pong"}


def wyoming_shape(p: dict[str, Any]) -> None:
    assert p["type"] in WYOMING_EVENTS and p["version"], p
    data = p.get("data", {})
    if p["type"] in ("transcript-chunk", "transcript"):
        has(data, text=str)
    elif p["type"] == "error":
        has(data, text=str, code=str)
    elif p["type"] == "info":
        assert data["asr"][0]["supports_transcript_streaming"] is True, p


@EXAMPLES
@given(events(text_frames([{"type": "describe"}, {"type": "transcribe", "data": {"language": "en", "name": "base"}},
                           {"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1}},
                           {"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1},
                            "payload_length": 3200},
                           {"type": "audio-stop"}, {"type": "ping", "data": {"text": "x"}}],
                          ["type", "data", "payload_length"])))
def test_wyoming_codec_never_raises_and_speaks_wyoming(sequence):
    run(WyomingCodec(), FakeClock(), sequence, wyoming_shape)


def vosk_shape(p: dict[str, Any]) -> None:
    if "error" in p:
        has(p, error=str)
    elif "partial" in p:
        has(p, partial=str)
    elif "alternatives" in p:
        assert all(isinstance(a["text"], str) and isinstance(a["confidence"], float) for a in p["alternatives"]), p
    else:
        has(p, text=str)
        assert all(w.keys() == {"conf", "end", "start", "word"} for w in p.get("result", [])), p


@EXAMPLES
@given(events(text_frames([{"config": {"sample_rate": 8000, "words": 1, "max_alternatives": 2,
                                       "phrase_list": ["one two"]}}, {"eof": 1}, {"reset": 1}, {"config": {}}],
                          ["config", "eof", "reset"])))
def test_vosk_codec_never_raises_and_speaks_vosk(sequence):
    run(VoskCodec(), FakeClock(), sequence, vosk_shape)
