"""The OpenAI bridge's sans-I/O parts: append-only deltas (bridges/openai/realtime_items.py),
the Realtime codec's items under server VAD (realtime.py), the multipart reader (form.py), model names (models.py), the response formats (formats.py)."""
from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from hypothesis import given, strategies as st

from asr.v1 import asr_pb2
from bridges.runtime import ConnectionInfo
from bridges.openai.realtime import RealtimeCodec
from bridges.transport import SendJson

from bridges.openai.form import FormReader
from bridges.openai.formats import Final, Transcript, srt, vtt
from bridges.openai.models import CoreModel, core_model, diarizes
from bridges.openai.realtime_config import RealtimeSettings
from bridges.openai.realtime_items import Item, speaker_segments

WORDS = st.lists(st.sampled_from(["ask", "not", "what", "your", "country", "can", "do"]), max_size=8)


def test_a_partial_word_is_sent_once_two_partials_agree_and_the_last_waits():
    item = Item("i")
    assert item.partial("ask not") == ""
    assert item.partial("ask not what") == "ask not"
    assert item.partial("ask not what your") == " what"
    assert item.final("ask not what your country") == " your country"
    assert item.transcript == "ask not what your country"


def test_a_final_that_disagrees_keeps_the_sent_words_and_adds_its_later_ones():
    item = Item("i")
    item.partial("and so my fellow")
    assert item.partial("and so my fellow americans") == "and so my fellow"
    assert item.final("and so, my fellow Americans") == " Americans"
    assert item.transcript == "and so my fellow Americans"


@given(st.lists(st.tuples(st.lists(WORDS, max_size=5), WORDS), min_size=1, max_size=4))
def test_deltas_always_concatenate_to_the_completed_transcript(segments):
    item, deltas = Item("i"), []
    for partials, final in segments:
        deltas += [item.partial(" ".join(p)) for p in partials]
        deltas.append(item.final(" ".join(final)))
    assert "".join(deltas) == item.transcript


def test_the_form_reader_takes_fields_then_streams_the_file_in_any_pieces():
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\n"
            b"Content-Type: audio/mpeg\r\n\r\n" + bytes(range(256)) * 4 + b"\r\n--xyz--\r\n")
    form, audio = FormReader(b"xyz"), b""
    for i in range(0, len(body), 7):
        audio += b"".join(form.feed(body[i:i + 7]))
    assert form.value("model") == "whisper-1" and form.filename == "a.mp3" and form.file_ended
    assert audio == bytes(range(256)) * 4


def test_openai_model_names_are_the_core_default_and_ours_pass_through():
    assert core_model("gpt-4o-mini-transcribe-2025-03-20") == CoreModel("", "")
    assert core_model("whisper-1") == core_model("gpt-realtime") == CoreModel("", "")
    assert core_model("whisper/base") == CoreModel("whisper", "base")
    assert core_model("tiny.en") == CoreModel("", "tiny.en")


def test_only_gpt_4o_transcribe_diarize_asks_a_realtime_stream_for_speakers():
    assert diarizes("gpt-4o-transcribe-diarize") and diarizes("gpt-4o-transcribe-diarize-2025-10-15")
    assert not diarizes("gpt-4o-transcribe") and not diarizes("whisper/base")
    assert RealtimeSettings(model="gpt-4o-transcribe-diarize").core_config("").diarization.enable
    assert not RealtimeSettings(model="gpt-4o-transcribe").core_config("").HasField("diarization")


def test_a_final_that_changes_speaker_is_one_segment_per_run_of_the_words_it_added():
    item = Item("i")
    item.partial("ask not what")
    item.partial("ask not what your")  # "ask not what" sent
    item.final("ask not what your country can do")
    final = Final("ask not what your country can do", 0, 3, 1,
                  tuple((w, i, i + 0.5) for i, w in enumerate(item.added)), 1, (1, 1, 1, 1, 2, 2, 2))
    assert speaker_segments(item.added, final) == [(1, 0, 3.5, "ask not what your"), (2, 4, 6.5, "country can do")]
    assert speaker_segments([], final) == []


def test_subtitles_time_each_segment():
    transcript = Transcript("transcribe", [Final("Ask not.", 0.5, 2.25, 0.9), Final("", 3, 4, 0), Final("Ask.", 61, 62.5, 1)])
    assert srt(transcript) == ("1\n00:00:00,500 --> 00:00:02,250\nAsk not.\n\n"
                               "2\n00:01:01,000 --> 00:01:02,500\nAsk.\n")
    assert vtt(transcript).startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nAsk not.\n")


def at(seconds: float) -> Duration:
    return Duration(seconds=int(seconds), nanos=round(seconds % 1 * 1e9))


def speech(kind: int, seconds: float) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(speech_event=asr_pb2.SpeechEvent(type=kind, offset=at(seconds)))


def result(segment: int, start: float, end: float, text: str, final: bool) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(
        segment_id=segment, start_offset=at(start), end_offset=at(end), text=text, is_final=final))


def test_an_utterance_whose_final_comes_after_the_next_ones_partial_keeps_its_own_item():
    """On a busy core "Ask not" (3.0-4.5 s) ends and "What your country" begins before the first
    has a result; the second's first partial then comes before the first's final."""
    codec = RealtimeCodec(ConnectionInfo("/v1/realtime", {}, "p", "s-1"), "")
    begin, end = asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN, asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END
    sent = [a.payload for response in (speech(begin, 3.0), speech(end, 4.5), speech(begin, 5.2),
                                       result(3, 5.2, 6.0, "What your", False),
                                       result(2, 3.0, 4.5, "Ask not!", True),
                                       result(3, 5.2, 7.8, "What your country can do for you!", True),
                                       speech(begin, 8.0), speech(end, 9.0), speech(begin, 9.5),
                                       result(5, 9.5, 10.0, "Ask", True))
            for a in codec.core_response(response) if isinstance(a, SendJson)]
    started = {e["item_id"]: e["audio_start_ms"] for e in sent if e["type"] == "input_audio_buffer.speech_started"}
    completed = {e["item_id"]: e["transcript"] for e in sent
                 if e["type"] == "conversation.item.input_audio_transcription.completed"}
    assert [(started[i], t) for i, t in completed.items()] == [
        (3000, "Ask not!"), (5200, "What your country can do for you!"), (8000, ""), (9500, "Ask")]
