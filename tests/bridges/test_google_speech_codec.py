"""The google_speech codec without sockets: Google's requests in, the core's config and audio out;
the core's results in, Google's responses out; the faults with the codes Google documents."""
from __future__ import annotations

import grpc
import pytest
from google.cloud import speech_v1 as speech
from google.longrunning import operations_pb2

from asr.v1 import asr_pb2
from bridges.codec import EndAudio, SendAudio, StartStream
from bridges.endings import Ending, grpc_ending
from bridges.google_speech.codec import (GET_OPERATION, LONG_RUNNING_RECOGNIZE, RECOGNIZE, STREAMING_RECOGNIZE,
                                         GoogleSpeechCodec, GoogleSpeechSettings)
from bridges.google_speech.operations import OperationStore
from bridges.transport import SendMessage
from tests.support import FakeClock, duration

Encoding = speech.RecognitionConfig.AudioEncoding
EventType = speech.StreamingRecognizeResponse.SpeechEventType


def codec(method: str = STREAMING_RECOGNIZE, clock: FakeClock | None = None,
          operations: OperationStore | None = None, **settings) -> GoogleSpeechCodec:
    return GoogleSpeechCodec(method, GoogleSpeechSettings(**settings), operations or OperationStore(),
                             clock=clock or FakeClock(), wall=FakeClock())


def config(**fields) -> speech.RecognitionConfig:
    return speech.RecognitionConfig(**{"encoding": Encoding.LINEAR16, "sample_rate_hertz": 16000,
                                       "language_code": "en-US", **fields})


def streaming(config_: speech.RecognitionConfig | None = None, **fields):
    return speech.StreamingRecognizeRequest.pb(speech.StreamingRecognizeRequest(
        streaming_config=speech.StreamingRecognitionConfig(config=config_ or config(), **fields)))


def audio(data: bytes):
    return speech.StreamingRecognizeRequest.pb(speech.StreamingRecognizeRequest(audio_content=data))


def recognize(config_: speech.RecognitionConfig, content: bytes = b"\0\0" * 1600, uri: str = ""):
    source = speech.RecognitionAudio(uri=uri) if uri else speech.RecognitionAudio(content=content)
    return speech.RecognizeRequest.pb(speech.RecognizeRequest(config=config_, audio=source))


def result(text: str, final: bool = True, end: float = 2.0, stability: float = 0.0,
           channel: int = 0) -> asr_pb2.RecognizeResponse:
    words = [asr_pb2.WordInfo(word=f" {w}", start_offset=duration(i * 0.5), end_offset=duration(i * 0.5 + 0.4),
                              confidence=0.9) for i, w in enumerate(text.split())]
    return asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(
        text=f" {text}", is_final=final, stability=1.0 if final else stability, confidence=0.8,
        end_offset=duration(end), words=words, language="en", channel_tag=channel))


def summary(seconds: float) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(audio_processed=duration(seconds)))


def messages(actions) -> list:
    return [a.message for a in actions if isinstance(a, SendMessage)]


def status(actions) -> grpc.StatusCode:
    (ending,) = [a for a in actions if isinstance(a, Ending)]
    return grpc_ending(ending)[0]


def test_streaming_config_becomes_the_cores_config():
    c = codec()
    (start,) = c.received_message(streaming(config(
        enable_word_confidence=True, enable_automatic_punctuation=True, audio_channel_count=2,
        enable_separate_recognition_per_channel=True,
        speech_contexts=[speech.SpeechContext(phrases=["Kennedy", " Kennedy ", "ask not"], boost=10)]),
        interim_results=True))
    assert isinstance(start, StartStream)
    assert start.config == asr_pb2.StreamingConfig(
        language="en-US", encoding=asr_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hertz=16000, audio_channel_count=2,
        enable_separate_recognition_per_channel=True, interim_results=True, enable_word_time_offsets=True,
        enable_automatic_punctuation=True, hotwords=["Kennedy", "ask not"])
    assert c.received_message(audio(b"\1\2" * 10)) == [SendAudio(b"\1\2" * 10)]
    assert c.input_ended() == [EndAudio()]


@pytest.mark.parametrize("encoding, core", [(Encoding.ENCODING_UNSPECIFIED, asr_pb2.AUDIO_ENCODING_AUTO),
                                            (Encoding.MULAW, asr_pb2.AUDIO_ENCODING_MULAW),
                                            (Encoding.OGG_OPUS, asr_pb2.AUDIO_ENCODING_OGG_OPUS),
                                            (Encoding.WEBM_OPUS, asr_pb2.AUDIO_ENCODING_WEBM_OPUS),
                                            (Encoding.MP3, asr_pb2.AUDIO_ENCODING_MP3),
                                            (Encoding.FLAC, asr_pb2.AUDIO_ENCODING_FLAC)])
def test_compressed_encodings_are_forwarded_as_they_come(encoding, core):
    (start,) = codec().received_message(streaming(config(encoding=encoding)))
    assert start.config.encoding == core


@pytest.mark.parametrize("fields, words", [
    ({"encoding": Encoding.AMR}, "encoding AMR is not supported"),
    ({"encoding": Encoding.AMR_WB}, "encoding AMR_WB is not supported"),
    ({"encoding": Encoding.SPEEX_WITH_HEADER_BYTE}, "SPEEX_WITH_HEADER_BYTE is not supported"),
    ({"language_code": ""}, "language_code is required"),
    ({"language_code": "en_US"}, "invalid language code"),
    ({"alternative_language_codes": ["de", "fr", "es", "it"]}, "at most 3"),
    ({"sample_rate_hertz": 96000}, "sample_rate_hertz must be between"),
    ({"audio_channel_count": 9}, "audio_channel_count"),
    ({"max_alternatives": 31}, "max_alternatives"),
    ({"model": "whisper-large"}, "unknown model"),
    ({"diarization_config": speech.SpeakerDiarizationConfig(enable_speaker_diarization=True), "audio_channel_count": 2,
      "enable_separate_recognition_per_channel": True}, "diarization with enable_separate_recognition_per_channel"),
    ({"diarization_config": speech.SpeakerDiarizationConfig(enable_speaker_diarization=True, min_speaker_count=3,
                                                            max_speaker_count=2)}, "max_speaker_count"),
    ({"adaptation": speech.SpeechAdaptation(phrase_set_references=["projects/p/phraseSets/s"])}, "adaptation"),
    ({"speech_contexts": [speech.SpeechContext(phrases=[f"p{i}" for i in range(101)])]}, "at most 100 phrases"),
])
def test_a_config_google_would_refuse_is_invalid_argument(fields, words):
    actions = codec().received_message(streaming(config(**fields)))
    assert status(actions) == grpc.StatusCode.INVALID_ARGUMENT and words in actions[-1].reason
    assert not [a for a in actions if isinstance(a, StartStream)]


def test_audio_before_the_streaming_config_is_invalid_argument():
    actions = codec().received_message(audio(b"\0\0"))
    assert status(actions) == grpc.StatusCode.INVALID_ARGUMENT and "streaming_config" in actions[-1].reason


def test_a_second_streaming_config_is_invalid_argument():
    c = codec()
    c.received_message(streaming())
    assert status(c.received_message(streaming())) == grpc.StatusCode.INVALID_ARGUMENT


def test_results_as_google_sends_them_words_on_finals_only():
    c = codec()
    c.received_message(streaming(config(enable_word_time_offsets=True), interim_results=True))
    (interim,) = messages(c.core_response(result("ask not", final=False, stability=0.6)))
    (final,) = messages(c.core_response(result("ask not what", end=3.5)))
    assert not interim.results[0].is_final and interim.results[0].stability == pytest.approx(0.6)
    assert not interim.results[0].alternatives[0].words
    first = final.results[0]
    assert first.is_final and first.stability == 0 and first.language_code == "en-us"
    assert first.alternatives[0].transcript == "ask not what" and first.alternatives[0].confidence == pytest.approx(0.8)
    assert [w.word for w in first.alternatives[0].words] == ["ask", "not", "what"]
    assert first.alternatives[0].words[1].start_time.ToNanoseconds() == 500_000_000
    assert not first.alternatives[0].words[0].confidence  # enable_word_confidence was not asked
    assert first.result_end_time.ToNanoseconds() == 3_500_000_000
    assert c.core_response(summary(11.2)) == []
    last, ending = c.core_finished()
    assert last.message.total_billed_time.seconds == 12 and not last.message.results
    assert grpc_ending(ending)[0] == grpc.StatusCode.OK


def test_single_utterance_ends_after_its_first_final():
    c = codec()
    c.received_message(streaming(single_utterance=True))
    actions = c.core_response(result("ask not"))
    event, first = messages(actions)
    assert event.speech_event_type == EventType.END_OF_SINGLE_UTTERANCE and first.results[0].is_final
    assert isinstance(actions[-1], EndAudio)
    assert c.received_message(audio(b"\0\0")) == [] and c.input_ended() == []
    assert c.core_response(result("what your country")) == []


def test_speech_activity_events_only_when_asked():
    begin = asr_pb2.RecognizeResponse(speech_event=asr_pb2.SpeechEvent(
        type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN, offset=duration(0.3)))
    quiet, asked = codec(), codec()
    quiet.received_message(streaming())
    asked.received_message(streaming(enable_voice_activity_events=True))
    assert quiet.core_response(begin) == []
    (event,) = messages(asked.core_response(begin))
    assert event.speech_event_type == EventType.SPEECH_ACTIVITY_BEGIN
    assert event.speech_event_time.ToNanoseconds() == 300_000_000


def test_a_stream_past_max_stream_seconds_ends_with_out_of_range_after_its_results():
    clock = FakeClock()
    c = codec(clock=clock, max_stream_seconds=305)
    c.received_message(streaming())
    assert c.idle_timeout(30.0) == 30.0
    clock.now += 290
    assert c.idle_timeout(30.0) == pytest.approx(15.0)
    clock.now += 15
    assert c.idle() == [EndAudio()]
    assert c.received_message(audio(b"\0\0")) == []
    assert messages(c.core_response(result("ask not")))  # the results still come
    actions = c.core_finished()
    assert status(actions) == grpc.StatusCode.OUT_OF_RANGE
    assert "maximum allowed stream duration of 305 seconds" in actions[-1].reason


def test_recognize_collects_the_finals_in_one_response():
    c = codec(RECOGNIZE)
    start, *sent = c.received_message(recognize(config(), b"\0\0" * 16000))
    assert isinstance(start, StartStream) and not start.config.interim_results
    assert b"".join(a.audio for a in sent) == b"\0\0" * 16000
    assert c.core_response(result("ask not", channel=1)) == []
    c.core_response(result("what your country", channel=2, end=4.0))
    c.core_response(summary(4.0))
    (response,) = messages(c.core_finished())
    assert [r.alternatives[0].transcript for r in response.results] == ["ask not", "what your country"]
    assert [r.channel_tag for r in response.results] == [1, 2]
    assert response.total_billed_time.seconds == 4


def test_recognize_refuses_a_cloud_storage_uri_and_more_than_a_minute():
    uri = codec(RECOGNIZE).received_message(recognize(config(), uri="gs://bucket/audio.flac"))
    assert status(uri) == grpc.StatusCode.INVALID_ARGUMENT and "audio.content" in uri[-1].reason
    long = codec(RECOGNIZE).received_message(recognize(config(), b"\0\0" * 16000 * 61))
    assert status(long) == grpc.StatusCode.INVALID_ARGUMENT and "LongRunningRecognize" in long[-1].reason
    mulaw = codec(RECOGNIZE).received_message(recognize(config(encoding=Encoding.MULAW, sample_rate_hertz=8000),
                                                         b"\xff" * 8000 * 59))
    assert isinstance(mulaw[0], StartStream)


def test_long_running_recognize_is_a_done_operation_kept_for_get_operation():
    operations = OperationStore()
    c = codec(LONG_RUNNING_RECOGNIZE, operations=operations)
    c.received_message(speech.LongRunningRecognizeRequest.pb(speech.LongRunningRecognizeRequest(
        config=config(), audio=speech.RecognitionAudio(content=b"\0\0" * 1600))))
    c.core_response(result("ask not"))
    (operation,) = messages(c.core_finished())
    response = speech.LongRunningRecognizeResponse.pb()()
    assert operation.done and operation.response.Unpack(response)
    assert response.results[0].alternatives[0].transcript == "ask not"
    get = codec(GET_OPERATION, operations=operations)
    (again,) = messages(get.received_message(operations_pb2.GetOperationRequest(name=operation.name)))
    assert again == operation
    missing = codec(GET_OPERATION, operations=operations).received_message(
        operations_pb2.GetOperationRequest(name="1"))
    assert status(missing) == grpc.StatusCode.NOT_FOUND


def test_the_operation_store_keeps_the_newest():
    store = OperationStore(capacity=2)
    names = [store.add(speech.LongRunningRecognizeResponse.pb()(),
                       speech.LongRunningRecognizeMetadata.pb()()).name for _ in range(3)]
    assert store.get(names[0]) is None and store.get(names[1]) and store.get(names[2])
