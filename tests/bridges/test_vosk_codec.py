"""The Vosk codec (bridges/vosk/codec.py) without sockets: one reply per audio frame (the oldest
undelivered result, else the newest partial), eof in both spellings, reset, the config's shapes."""
from __future__ import annotations

from asr.v1 import asr_pb2
from bridges.codec import EndAudio, SendControl, SendJson, StartStream
from bridges.endings import EndKind, Ending
from bridges.vosk.codec import VoskCodec
from tests.support import duration

FRAME = b"\0\0" * 1600


def result(text: str, final: bool, segment: int = 0, words: tuple[str, ...] = ()) -> asr_pb2.RecognizeResponse:
    r = asr_pb2.RecognitionResult(text=text, is_final=final, segment_id=segment, confidence=0.9)
    for i, word in enumerate(words):
        w = r.words.add(word=f" {word}", confidence=0.8)
        w.start_offset.CopyFrom(duration(i * 0.5))
        w.end_offset.CopyFrom(duration(i * 0.5 + 0.4))
    return asr_pb2.RecognizeResponse(result=r)


def replies(actions) -> list[dict]:
    return [a.payload for a in actions if isinstance(a, SendJson)]


def test_the_first_frame_opens_an_8_khz_stream_and_every_frame_gets_one_reply():
    codec = VoskCodec()
    actions = codec.received_bytes(FRAME)
    [start] = [a for a in actions if isinstance(a, StartStream)]
    assert start.config.sample_rate_hertz == 8000 and start.config.interim_results
    assert replies(actions) == [{"partial": ""}]
    codec.core_response(result("and so", False))
    assert replies(codec.received_bytes(FRAME)) == [{"partial": "and so"}]


def test_results_come_oldest_first_with_words_then_partials_again():
    codec = VoskCodec()
    codec.received_bytes(FRAME)
    codec.core_response(result("And so.", True, 0, ("And", "so.")))
    codec.core_response(result("My fellow", True, 1, ("My", "fellow")))
    codec.core_response(result("Americans", False, 2))
    first, second, third = (replies(codec.received_bytes(FRAME))[0] for _ in range(3))
    assert first == {"result": [{"conf": 0.8, "end": 0.4, "start": 0.0, "word": "And"},
                                {"conf": 0.8, "end": 0.9, "start": 0.5, "word": "so."}], "text": "And so."}
    assert second["text"] == "My fellow" and third == {"partial": "Americans"}


def test_eof_in_either_spelling_ends_with_one_result_then_close():
    for eof in ('{"eof" : 1}', '{"eof": 1}', '{ "eof":1 }'):
        codec = VoskCodec()
        codec.received_bytes(FRAME)
        assert codec.received_text(eof) == [EndAudio()]
        codec.core_response(result("ask not", True, 0, ("ask", "not")))
        codec.core_response(result("what", True, 1, ("what",)))
        *sent, ending = codec.core_finished()
        assert replies(sent)[0]["text"] == "ask not what" and len(replies(sent)[0]["result"]) == 3
        assert isinstance(ending, Ending) and ending.kind is EndKind.NORMAL


def test_reset_delivers_the_open_utterance_once():
    codec = VoskCodec()
    codec.received_bytes(FRAME)
    codec.core_response(result("ask not what", False, 4))
    actions = codec.received_text('{"reset" : 1}')
    assert isinstance(actions[0], SendControl) and replies(actions) == [{"text": "ask not what"}]
    codec.core_response(result("Ask not what.", True, 4))  # the final of the reset utterance: not again
    assert replies(codec.received_bytes(FRAME)) == [{"partial": ""}]


def test_config_shapes_alternatives_and_refuses_model():
    codec = VoskCodec()
    assert codec.received_text('{"config": {"sample_rate": 16000.0, "max_alternatives": 3, "words": 0}}') == []
    codec.received_bytes(FRAME)
    codec.core_response(result("hello", True, 0, ("hello",)))
    assert replies(codec.received_bytes(FRAME)) == [{"alternatives": [{"confidence": 0.9, "text": "hello"}]}]
    refused = VoskCodec().received_text('{"config": {"model": "/srv/model"}}')
    assert "model is not supported" in replies(refused)[0]["error"] and refused[-1].kind is EndKind.CLIENT_FAULT
