"""Proto ↔ dataclass conversion, error-detail parsing and CLI rendering (no server needed)."""
from __future__ import annotations

import io
import json
from dataclasses import fields

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from asr.v1 import asr_pb2
from clients import Finalize, Recognizer, RecognizerClient, ServerUnreachable, StreamConfig, UpdateSettings
from clients.errors import error_from_status
from clients.render import StatusLine, engines_table, final_line, result_json
from clients.sdk import _request
from clients.types import (Capabilities, EngineInfo, EngineList, ModelInfo, Result, SpeechEvent, Summary, Word,
                           engines_from_proto, event_from_proto)
from tests.conftest import free_port
from tests.support import duration


def test_stream_config_round_trips_through_proto():
    config = StreamConfig(engine="whisper", model="base", language="en-US", task="translate", encoding="float32",
                          sample_rate_hertz=48000, audio_channel_count=2, interim_results=True,
                          word_time_offsets=True, vad_enabled=False, min_silence=0.75, partial_interval=0.25)
    msg = config.to_proto()
    assert msg.task == asr_pb2.TASK_TRANSLATE and msg.encoding == asr_pb2.AUDIO_ENCODING_FLOAT32
    assert msg.vad.HasField("enabled") and not msg.vad.enabled
    assert msg.vad.min_silence_duration.nanos == 750_000_000
    assert StreamConfig.from_proto(msg) == config
    assert not StreamConfig().to_proto().HasField("vad")  # unset = server defaults
    with pytest.raises(ValueError, match="encoding"):
        StreamConfig(encoding="speex").to_proto()


def test_every_stream_config_field_round_trips_through_proto():
    config = StreamConfig(engine="funasr", model="m", language="zh", task="translate", encoding="int32",
                          sample_rate_hertz=8000, audio_channel_count=2, interim_results=True, word_time_offsets=True,
                          automatic_punctuation=True, vad_enabled=True, vad_threshold=0.3, min_silence=0.5,
                          partial_interval=0.2, beam_size=3, session_id="s-1", prompt="infra sync",
                          hotwords=("kubectl", "Siobhan"), separate_channels=True, segmentation="accurate",
                          diarization=True, min_speakers=2, max_speakers=3)
    defaults = StreamConfig()
    assert all(getattr(config, f.name) != getattr(defaults, f.name) for f in fields(StreamConfig))
    assert StreamConfig.from_proto(config.to_proto()) == config


def test_engine_list_carries_every_field_of_the_reply():
    listing = engines_from_proto(asr_pb2.ListEnginesResponse(default_engine="whisper", engines=[asr_pb2.EngineInfo(
        name="whisper", aliases=["faster-whisper"], available=False, unavailable_reason="why", default_model="base",
        device="cuda:1",
        capabilities=asr_pb2.EngineCapabilities(native_streaming=True, interim_results=True, word_time_offsets=True,
                                                translate=True, language_detection=True, languages=["en", "ar"],
                                                prompt=True, hotwords=True),
        models=[asr_pb2.ModelInfo(name="base", aliases=["b"], available=False, unavailable_reason="no weights",
                                  multilingual=True, source="pkg")])]))
    assert listing == EngineList((EngineInfo(
        "whisper", ("faster-whisper",), False, "why", Capabilities(True, True, True, True, True, ("en", "ar"), True, True),
        (ModelInfo("base", ("b",), False, "no weights", True, "pkg"),), "base", "cuda:1"),), "whisper")


def test_controls_become_requests():
    assert _request(b"\0\0").audio == b"\0\0"
    assert _request(Finalize()).control.HasField("finalize")
    upd = _request(UpdateSettings(min_silence=0.3)).control.update_settings
    assert upd.vad.min_silence_duration.nanos == 300_000_000 and not upd.HasField("partial_interval")
    with pytest.raises(TypeError):
        _request("text")  # type: ignore[arg-type]


def test_events_convert_durations_to_seconds():
    r = asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(
        segment_id=3, text=" hello world", is_final=True, stability=1.0, start_offset=duration(1.25), end_offset=duration(2.5),
        words=[asr_pb2.WordInfo(word="hello", start_offset=duration(1.25), end_offset=duration(1.7), confidence=0.9)],
        processing_time=duration(0.04)))
    result = event_from_proto(r)
    assert isinstance(result, Result)
    assert (result.segment_id, result.start, result.end) == (3, 1.25, 2.5)
    assert result.words == (Word("hello", 1.25, 1.7, pytest.approx(0.9)),)
    assert result.processing_time == pytest.approx(0.04)
    line = json.loads(result_json(result))
    assert line["type"] == "result" and line["words"][0]["start"] == 1.25 and line["is_final"] is True
    ev = event_from_proto(asr_pb2.RecognizeResponse(speech_event=asr_pb2.SpeechEvent(
        type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END, offset=duration(4.0))))
    assert ev == SpeechEvent("end", 4.0)
    summary = event_from_proto(asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(
        audio_processed=duration(9.5), segment_count=2, transcript="a b")))
    assert summary == Summary(9.5, 2, "a b")
    assert event_from_proto(asr_pb2.RecognizeResponse()) is None


def _packed(msg) -> any_pb2.Any:
    a = any_pb2.Any()
    a.Pack(msg)
    return a


def test_error_details_are_parsed():
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad audio", details=[
        _packed(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="audio", description="odd byte count 3")])),
        _packed(error_details_pb2.RetryInfo(retry_delay=duration(2.5))),
        _packed(error_details_pb2.ErrorInfo(reason="INVALID_AUDIO", domain="asr.v1", metadata={"bytes": "3"})),
    ])
    err = error_from_status(status, grpc.StatusCode.INVALID_ARGUMENT, "h:1")
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT and err.message == "bad audio"
    assert [(v.field, v.description) for v in err.field_violations] == [("audio", "odd byte count 3")]
    assert err.retry_after == 2.5 and err.reason == "INVALID_AUDIO" and err.metadata == {"bytes": "3"}
    assert "audio: odd byte count 3" in str(err)


async def test_unreachable_server_raises_server_unreachable():
    address = f"127.0.0.1:{free_port()}"
    async with RecognizerClient(address) as client:
        with pytest.raises(ServerUnreachable) as info:
            await client.list_engines()
        assert address in str(info.value) and "make run" in str(info.value)
        with pytest.raises(ServerUnreachable):
            async for _ in client.stream([b"\0\0" * 1600]):
                pass


def test_sync_wrapper_reports_unreachable_server():
    with pytest.raises(ServerUnreachable):
        Recognizer(f"127.0.0.1:{free_port()}").list_engines()


def test_status_line_is_silent_off_a_terminal():
    buf = io.StringIO()
    line = StatusLine(buf)
    line.show("partial words")
    line.clear()
    assert buf.getvalue() == ""


def test_final_line_with_word_times():
    r = Result(1, " hi there", True, 0.5, 1.5, words=(Word(" hi", 0.5, 0.8), Word(" there", 0.9, 1.5)))
    assert final_line(r) == "hi there"
    assert final_line(r, word_times=True) == "[   0.50 →    1.50] hi there\n    hi@0.50-0.80 there@0.90-1.50"


def test_engines_table_shows_availability_models_and_reasons():
    listing = engines_from_proto(asr_pb2.ListEnginesResponse(default_engine="whisper", engines=[
        asr_pb2.EngineInfo(name="whisper", aliases=["faster-whisper"], available=True, default_model="tiny.en",
                           device="cpu", capabilities=asr_pb2.EngineCapabilities(interim_results=True, word_time_offsets=True),
                           models=[asr_pb2.ModelInfo(name="tiny.en", available=True, source="pkg"),
                                   asr_pb2.ModelInfo(name="large", available=False, unavailable_reason="no weights")]),
        asr_pb2.EngineInfo(name="google", available=False, unavailable_reason="set GOOGLE_APPLICATION_CREDENTIALS"),
    ]))
    table = engines_table(listing)
    header, whisper_row = table.splitlines()[:2]
    assert header.split()[:2] == ["ENGINE", "ALIASES"]
    assert whisper_row.startswith("whisper (default)") and "interim,word-times" in whisper_row
    assert header.split()[-1] == "DEVICE" and whisper_row.split()[-1] == "cpu"
    assert "* model tiny.en [available]" in table and "UNAVAILABLE: no weights" in table
    assert "reason: set GOOGLE_APPLICATION_CREDENTIALS" in table
