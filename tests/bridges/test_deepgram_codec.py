"""The Deepgram codecs without sockets (bridges/deepgram/): query parameters, the live state
machine (Finalize, CloseStream, KeepAlive, the 10 s close) and the prerecorded answer."""
from __future__ import annotations

import pytest

from asr.v1 import asr_pb2
from bridges.codec import EndAudio, SendControl, StartStream
from bridges.deepgram.live import NET_0001_CODE, LiveCodec
from bridges.deepgram.options import MIN_ENDPOINTING_MS, ListenOptions
from bridges.deepgram.prerecorded import PrerecordedCodec
from bridges.endings import EndKind, Ending, ws_close_code
from bridges.fields import FieldError
from bridges.transport import SendJson
from tests.support import duration

LIVE = {"encoding": "linear16", "sample_rate": "16000"}


def result(text: str, is_final: bool, start: float = 0.0, end: float = 1.0) -> asr_pb2.RecognizeResponse:
    r = asr_pb2.RecognitionResult(text=text, is_final=is_final, confidence=0.9)
    r.start_offset.CopyFrom(duration(start))
    r.end_offset.CopyFrom(duration(end))
    for word in text.split():
        w = r.words.add(word=word, confidence=0.9)
        w.start_offset.CopyFrom(duration(start))
        w.end_offset.CopyFrom(duration(end))
    return asr_pb2.RecognizeResponse(result=r)


def payloads(actions: list) -> list[dict]:
    return [a.payload for a in actions if isinstance(a, SendJson)]


def test_deepgram_model_names_mean_the_core_default_and_others_pass_through():
    assert ListenOptions.parse({"model": "nova-3-general"}, live=True).model == ""
    assert ListenOptions.parse({"model": "tiny.en"}, live=True).model == "tiny.en"


def test_booleans_in_deepgram_spelling_and_wrong_values_refused():
    assert ListenOptions.parse({"interim_results": "True", **LIVE}, live=True).interim_results
    with pytest.raises(FieldError, match="interim_results"):
        ListenOptions.parse({"interim_results": "yes"}, live=True)


def test_diarize_asks_the_core_for_speakers_and_is_refused_with_multichannel():
    assert ListenOptions.parse({"diarize": "true"}, live=True).to_proto("").diarization.enable
    assert not ListenOptions.parse({}, live=True).to_proto("").diarization.enable
    with pytest.raises(FieldError, match="diarize"):
        ListenOptions.parse({"diarize": "true", "multichannel": "true"}, live=True)


def test_encodings_map_to_the_core_and_unknown_ones_are_refused():
    assert ListenOptions.parse({"encoding": "mulaw"}, live=True).to_proto("").sample_rate_hertz == 8000
    assert ListenOptions.parse({}, live=True).to_proto("").encoding == asr_pb2.AUDIO_ENCODING_AUTO
    with pytest.raises(FieldError, match="speex"):
        ListenOptions.parse({"encoding": "speex"}, live=True)
    with pytest.raises(FieldError, match="sample_rate"):
        ListenOptions.parse({"encoding": "linear16"}, live=True)


def test_endpointing_has_a_floor_and_false_turns_speech_final_off():
    config = ListenOptions.parse({"endpointing": "10"}, live=True).to_proto("")
    assert config.vad.min_silence_duration.nanos == MIN_ENDPOINTING_MS * 1_000_000
    assert not ListenOptions.parse({"endpointing": "false"}, live=True).speech_final


def test_keywords_become_hotwords_and_unsupported_options_are_named():
    options = ListenOptions.parse({"keywords": "Kubernetes:2", "profanity_filter": "true"}, live=True)
    assert options.hotwords == ("Kubernetes",)
    assert [w["parameter"] for w in options.warnings] == ["profanity_filter"]


def test_live_finalize_with_nothing_pending_answers_an_empty_final_at_once():
    codec = LiveCodec(LIVE)
    assert isinstance(codec.connected()[0], StartStream)
    actions = codec.received_text('{"type": "Finalize"}')
    assert isinstance(actions[0], SendControl)
    (answer,) = payloads(actions)
    assert answer["is_final"] and answer["from_finalize"] and answer["channel"]["alternatives"][0]["transcript"] == ""


def test_live_finalize_marks_the_final_that_follows():
    codec = LiveCodec({**LIVE, "punctuate": "true"})
    codec.connected()
    assert payloads(codec.core_response(result("Ask not", False)))[0]["is_final"] is False
    assert payloads(codec.received_text('{"type": "Finalize"}')) == []
    (second,) = payloads(codec.received_text('{"type": "Finalize"}'))  # each Finalize gets its answer
    assert second["from_finalize"] and second["channel"]["alternatives"][0]["transcript"] == ""
    (final,) = payloads(codec.core_response(result("Ask not.", True)))
    assert final["from_finalize"] and not final["speech_final"] and final["channel"]["alternatives"][0]["transcript"] == "Ask not."


def test_live_final_by_endpointing_is_speech_final_and_utterance_end_follows():
    codec = LiveCodec({**LIVE, "utterance_end_ms": "1000"})
    codec.connected()
    final, end = payloads(codec.core_response(result("Ask not.", True, 0.5, 1.5)))
    assert final["speech_final"] and not final["from_finalize"]
    assert final["channel"]["alternatives"][0]["transcript"] == "ask not"  # punctuate off
    assert end == {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 1.5}


def test_live_keepalive_is_silent_and_closestream_ends_with_metadata():
    codec = LiveCodec(LIVE)
    codec.connected()
    assert codec.received_text('{"type": "KeepAlive"}') == []
    assert codec.received_text('{"type": "CloseStream"}') == [EndAudio()]
    metadata, ending = codec.core_finished()
    assert metadata.payload["type"] == "Metadata" and ending.kind is EndKind.NORMAL


def test_live_ten_seconds_without_a_frame_close_with_net_0001():
    codec = LiveCodec(LIVE)
    codec.connected()
    assert codec.idle_timeout(30.0) == 10.0
    (ending,) = codec.idle()
    assert isinstance(ending, Ending) and ws_close_code(ending) == NET_0001_CODE and "net0001" in ending.reason


def test_live_unknown_message_gets_an_error_and_the_stream_goes_on():
    codec = LiveCodec(LIVE)
    codec.connected()
    (error,) = codec.received_text('{"type": "Bogus"}')
    assert error.payload["type"] == "Error"


def test_prerecorded_url_body_is_refused():
    codec = PrerecordedCodec({}, {"content-type": "application/json"})
    error, ending = codec.connected()
    assert error.payload["err_code"] == "Bad Request" and ending.kind is EndKind.CLIENT_FAULT


def test_prerecorded_answer_has_channels_utterances_and_paragraphs():
    codec = PrerecordedCodec({"smart_format": "true", "utterances": "true"}, {})
    codec.connected()
    codec.core_response(result("Ask not.", True, 0.0, 1.0))
    codec.core_response(result("What you can do.", True, 2.0, 3.0))
    body, _ = codec.core_finished()
    alternative = body.payload["results"]["channels"][0]["alternatives"][0]
    assert alternative["transcript"] == "Ask not. What you can do."
    assert len(alternative["paragraphs"]["paragraphs"]) == 2 and len(body.payload["results"]["utterances"]) == 2
