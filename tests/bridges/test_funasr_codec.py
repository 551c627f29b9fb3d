"""funasr codec and audio format detection without sockets."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import soxr
from asr.v1 import asr_pb2

from bridges.codec import EndAudio, SendAudio, SendControl, SendJson, StartStream
from bridges.endings import Ending
from bridges.faults import CoreError
from bridges.funasr.audio_format import AudioFormatError, AudioNormalizer, decode, detect_format, parse_wav
from bridges.funasr.codec import MAX_CORE_AUDIO_BYTES, REPLY_GRACE, FunAsrCodec
from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, noise, speech
from bridge_helpers import close_of, CORE_DOWN, assert_core_down_wording
from tests.real_speech import load
from tests.support import wav_bytes


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return speech(PARAGRAPH)[:SAMPLE_RATE * 4]


def chunks(data: bytes, size: int = 4096):
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_detects_int16_speech_chunk_by_chunk(clip):
    pcm = (clip * 32767).astype("<i2").tobytes()
    found = {detect_format(c) for c in chunks(pcm) if any(c)}
    assert found == {"int16"}


def test_detects_float32_speech_chunk_by_chunk(clip):
    found = {detect_format(c) for c in chunks(clip.astype("<f4").tobytes()) if any(c)}
    assert found == {"float32"}


def test_detects_int32_speech_both_kinds(clip):
    full = (clip.astype(np.float64) * 2**31 * 0.99).astype("<i4").tobytes()  # 32-bit resolution
    shifted = ((clip * 32767).astype(np.int32) << 16).astype("<i4").tobytes()  # int16 widened
    assert {detect_format(c) for c in chunks(full) if any(c)} == {"int32"}
    assert {detect_format(c) for c in chunks(shifted) if any(c)} == {"int32"}


def test_detects_int32_from_a_quiet_start_and_from_16_bit_samples_widened():
    jfk = load("jfk").audio.astype(np.float64)  # 16-bit samples, as soundfile reads them
    quiet = (jfk * 0.01 * 2147483647).astype("<i4").tobytes()  # high words of a few units
    widened = (jfk * 2147483647).astype("<i4").tobytes()  # low words 0 and -1, not all 0
    for data in (quiet, widened):
        assert {detect_format(c) for c in chunks(data) if any(c)} <= {"int32", None}
        normalizer = AudioNormalizer()
        out = np.concatenate([normalizer.feed(c) for c in chunks(data)] + [normalizer.flush()])
        assert normalizer.format == "int32" and len(out) == len(jfk)
        assert np.corrcoef(out, jfk)[0, 1] > 0.99


def test_an_all_nan_chunk_is_refused_and_decides_nothing(clip):
    normalizer = AudioNormalizer()
    with pytest.raises(AudioFormatError, match="NaN"):
        normalizer.feed(np.full(1024, np.nan, np.float32).tobytes())
    out = np.concatenate([normalizer.feed(c) for c in chunks(clip.astype("<f4").tobytes())])
    assert normalizer.format == "float32" and np.array_equal(out, clip[:len(out)]) and len(out) > len(clip) - 1024


def test_quiet_noise_and_silence():
    hiss = noise(0.1, level=0.001)
    assert detect_format((hiss * 32767).astype("<i2").tobytes()) == "int16"
    assert detect_format(hiss.astype("<f4").tobytes()) == "float32"
    assert detect_format(b"\x00" * 4096) is None
    with pytest.raises(AudioFormatError):
        detect_format(b"\x01\x02\x03")


def test_wav_header_44k_stereo_is_parsed_downmixed_and_resampled(clip):
    data = wav_bytes(clip, 44100, 2)
    info = parse_wav(data)
    assert (info.format, info.sample_rate, info.channels) == ("int16", 44100, 2)
    normalizer = AudioNormalizer()
    out = np.concatenate([normalizer.feed(c) for c in chunks(data, 8192)] + [normalizer.flush()])
    assert abs(len(out) - len(clip)) < 50
    n = min(len(out), len(clip))
    assert np.corrcoef(out[:n], clip[:n])[0, 1] > 0.98
    assert parse_wav(b"not a wav file") is None
    with pytest.raises(AudioFormatError):
        parse_wav(data[:12] + b"data" + data[16:])  # data chunk before fmt


def test_stated_format_and_rate(clip):
    pcm = (soxr.resample(clip, SAMPLE_RATE, 8000) * 2**31 * 0.9).astype("<i4").tobytes()
    normalizer = AudioNormalizer("int32", 8000, 1)
    out = np.concatenate([normalizer.feed(pcm), normalizer.flush()])
    assert abs(len(out) - len(clip)) < 20
    with pytest.raises(AudioFormatError):
        AudioNormalizer("mp3")
    with pytest.raises(AudioFormatError):
        decode(b"\x00" * 6, "float32")


def test_leading_silence_waits_for_the_format(clip):
    normalizer = AudioNormalizer()
    assert len(normalizer.feed(b"\x00" * 4096)) == 0
    assert len(normalizer.feed(clip[:1024].astype("<f4").tobytes())) == 0  # one chunk is not enough to judge
    out = normalizer.feed(clip[1024:2048].astype("<f4").tobytes())
    assert normalizer.format == "float32" and len(out) == 1024 + 2048
    assert np.array_equal(out[1024:], clip[:2048])


# ---- codec ---------------------------------------------------------------------------------
def sent(actions) -> list[dict]:
    return [a.payload for a in actions if isinstance(a, SendJson)]


def audio_chunk(raw: bytes) -> str:
    return json.dumps({"type": "audio_chunk", "data": base64.b64encode(raw).decode()})


def result(text: str, final: bool) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text=text, is_final=final, confidence=0.9))


STARTED = asr_pb2.RecognizeResponse(session_started=asr_pb2.SessionStarted(
    engine="whisper", model="base", resolved_config=asr_pb2.StreamingConfig(language="zh")))


def recording(**kwargs) -> FunAsrCodec:
    codec = FunAsrCodec("client-1", clock=lambda: 1704110400.0, **kwargs)
    assert codec.connected() == []
    [start] = codec.received_text('{"type": "start_recording"}')
    assert isinstance(start, StartStream)
    assert start.config.encoding == asr_pb2.AUDIO_ENCODING_FLOAT32 and start.config.sample_rate_hertz == 16000
    assert sent(codec.core_response(STARTED)) == [{
        "type": "status", "code": "SESSION_STARTED",
        "message": "Recording started (engine whisper, model base, language zh; raw audio is taken as 16000 Hz mono, "
                   "its format detected; for other audio send \"sample_rate\", \"channels\" or \"format\" in "
                   "start_recording, or a WAV header)"}]
    return codec


def test_no_language_means_chinese_with_funasr_else_whisper_and_the_core_picks_the_model():
    [start] = FunAsrCodec("c").received_text('{"type": "start_recording"}')
    assert (start.config.language, start.config.engine, start.config.model) == ("zh", "funasr,whisper", "")
    # No model is named: the core picks one for zh (tests/bridges/test_funasr.py checks it is served).
    [start] = FunAsrCodec("c", engine="whisper").received_text('{"type": "start_recording"}')
    assert (start.config.language, start.config.engine, start.config.model) == ("zh", "whisper", "")


def test_voice_assistant_reads_one_message_per_chunk_and_one_after_stop():
    """The document's example: start, (chunk, recv) x N, stop, recv -> the final transcription."""
    codec = recording()  # SESSION_STARTED was pushed: the client reads it after its first chunk
    pcm = np.zeros(1024, np.float32).tobytes()
    assert sent(codec.received_text(audio_chunk(pcm))) == []  # SESSION_STARTED takes this reply's place
    assert sent(codec.received_text(audio_chunk(pcm)))[0]["code"] == "MODEL_LOADED"
    assert sent(codec.received_text(audio_chunk(pcm))) == [{"type": "status", "message": "Audio chunk received",
                                                          "code": "PROCESSING_AUDIO"}]
    codec.core_response(result("hel", False))
    codec.core_response(result("hello wor", False))  # replaces the undelivered partial
    assert sent(codec.received_text(audio_chunk(pcm)))[0]["text"] == "hello wor"
    codec.core_response(result("hello wor", False))  # nothing new: not repeated
    assert sent(codec.received_text(audio_chunk(pcm)))[0]["code"] == "PROCESSING_AUDIO"
    codec.core_response(result("hello world.", True))
    final = sent(codec.received_text(audio_chunk(pcm)))[0]
    assert final["is_final"] and final["text"] == "hello world."
    assert sent(codec.received_text(audio_chunk(pcm)))[0]["code"] == "PROCESSING_AUDIO"
    codec.core_response(result("turn left", False))  # undelivered when stop arrives
    actions = codec.received_text('{"type": "stop_recording"}')
    assert EndAudio() in actions and sent(actions) == []  # nothing until the transcript is ready
    assert sent(codec.core_response(result("turn left.", True))) == []
    codec.core_response(asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(
        transcript="hello world. turn left.", segment_count=2)))
    after = sent(codec.core_finished())
    # The final answering stop_recording holds only what was not final yet ("hello world." was);
    # SESSION_STOPPED carries the whole transcript.
    assert after[0] == {"type": "recognition_result", "text": "turn left.", "is_final": True,
                        "timestamp": "2024-01-01T12:00:00.000Z", "confidence": 0.9}
    assert after[1:] == [{"type": "status", "message": "Recording stopped; transcript: hello world. turn left.",
                          "code": "SESSION_STOPPED"}]


def test_stop_with_everything_already_final_answers_an_empty_final():
    codec = recording()
    pcm = np.zeros(1024, np.float32).tobytes()
    codec.received_text(audio_chunk(pcm))  # its reply was SESSION_STARTED
    codec.core_response(result("hello world.", True))
    assert sent(codec.received_text(audio_chunk(pcm)))[0]["code"] == "MODEL_LOADED"
    assert sent(codec.received_text(audio_chunk(pcm)))[0]["text"] == "hello world."
    codec.received_text('{"type": "stop_recording"}')
    codec.core_response(asr_pb2.RecognizeResponse(summary=asr_pb2.SessionSummary(transcript="hello world.")))
    final, stopped = sent(codec.core_finished())
    assert final["type"] == "recognition_result" and final["is_final"] and final["text"] == ""
    assert stopped["code"] == "SESSION_STOPPED" and stopped["message"].endswith("transcript: hello world.")


def test_health_check_reads_session_started_first_and_still_gets_every_chunk_reply():
    codec = recording()
    assert codec.idle_timeout(30.0) == 30.0
    assert sent(codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes()))) == []
    assert codec.idle_timeout(30.0) == REPLY_GRACE  # no next chunk soon: the client is waiting for it
    assert sent(codec.idle())[0]["code"] == "MODEL_LOADED"
    assert codec.idle_timeout(30.0) == 30.0


def test_start_recording_right_after_stop_starts_a_new_recording():
    codec = recording()
    codec.received_text('{"type": "stop_recording"}')
    assert codec.received_text('{"type": "start_recording"}') == []  # waits for the previous recording
    pcm = np.full(1024, 0.1, np.float32).tobytes()
    for _ in range(2):
        reply = sent(codec.received_text(audio_chunk(pcm)))  # the new recording's audio is held, and answered
        assert reply == [] or reply[0]["type"] == "status"
    actions = codec.core_finished()
    assert [m.get("code") for m in sent(actions)][-1] == "SESSION_STOPPED"
    start, held = actions[-2:]
    assert isinstance(start, StartStream) and held == SendAudio(pcm * 2)
    assert sent(codec.core_response(STARTED))[0]["code"] == "SESSION_STARTED"


def test_connection_timeout_flushes_queued_status_first():
    codec = FunAsrCodec("c")
    codec.received_text('{"type": "start_recording"}')
    codec.core_response(STARTED)
    codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes()))  # takes SESSION_STARTED's place
    codes = [m["code"] for m in sent(codec.idle()) + sent(codec.idle())]
    assert codes == ["MODEL_LOADED", "CONNECTION_TIMEOUT"]


@pytest.mark.parametrize("frame, code", [
    ("{", "SESSION_ERROR"),
    ('{"type": "sing"}', "SESSION_ERROR"),
    ('{"type": 5}', "SESSION_ERROR"),
    ('{"type": "audio_chunk", "data": "%%%"}', "INVALID_AUDIO_FORMAT"),
    ('{"type": "audio_chunk"}', "INVALID_AUDIO_FORMAT"),
    (audio_chunk(b"\x01\x02\x03"), "INVALID_AUDIO_FORMAT"),
    ('{"type": "start_recording"}', "SESSION_ERROR"),
])
def test_errors_while_recording(frame, code):
    codec = recording()
    [error] = sent(codec.received_text(frame))
    assert set(error) == {"type", "message", "code", "details"} and error["code"] == code


def test_errors_before_recording_and_timeouts():
    codec = FunAsrCodec("c")
    assert sent(codec.received_text(audio_chunk(b"\x00\x00")))[0]["code"] == "SESSION_ERROR"
    assert sent(codec.received_text('{"type": "start_recording", "channels": 0}'))[0]["code"] == "INVALID_AUDIO_FORMAT"
    assert sent(codec.frame_too_large(10, 5))[0]["code"] == "BUFFER_OVERFLOW"
    timeout = codec.idle()
    assert sent(timeout)[0]["code"] == "CONNECTION_TIMEOUT" and isinstance(timeout[-1], Ending)

    busy = recording()
    actions = busy.idle()
    assert [m["code"] for m in sent(actions)] == ["MODEL_LOADED", "CONNECTION_TIMEOUT"] and EndAudio() in actions
    assert close_of(busy.core_finished()[-1]) == (1000, "connection timeout")


def test_client_id_validation_and_core_errors():
    bad = FunAsrCodec("has space")
    actions = bad.connected()
    assert sent(actions)[0]["code"] == "SESSION_ERROR" and close_of(actions[-1])[0] == 1008
    assert FunAsrCodec("a" * 128).connected() == []  # the shared client-id rule: 1-128 characters
    assert FunAsrCodec("a" * 129).connected() != []
    codec = FunAsrCodec("c")
    codec.received_text('{"type": "start_recording"}')
    [down] = sent(codec.core_error(CORE_DOWN))
    assert down["code"] == "MODEL_UNAVAILABLE"
    assert_core_down_wording(down["details"])
    assert isinstance(codec.received_text('{"type": "start_recording"}')[0], StartStream)  # may retry


def test_float32_audio_reaches_the_core_resampled():
    codec = FunAsrCodec("c")
    codec.received_text('{"type": "start_recording", "format": "int16", "sample_rate": 8000}')
    actions = []
    for _ in range(5):
        actions += codec.received_text(audio_chunk(np.full(800, 1000, "<i2").tobytes()))
    actions += codec.received_text('{"type": "stop_recording"}')
    samples = np.concatenate([np.frombuffer(a.audio, "<f4") for a in actions if isinstance(a, SendAudio)])
    assert abs(len(samples) - 8000) <= 2
    assert abs(float(np.median(samples)) - 1000 / 32768) < 1e-3


def test_document_silence_chunks_then_float32_speech(clip):
    """capture_audio_chunk() (1024 float32 zeros) sent 175 times, then float32 speech."""
    codec = FunAsrCodec("c")
    codec.received_text('{"type": "start_recording"}')
    actions = []
    for _ in range(175):
        actions += codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes()))
    silence_out = [a for a in actions if isinstance(a, SendAudio)]
    assert silence_out and max(len(a.audio) for a in silence_out) <= MAX_CORE_AUDIO_BYTES
    assert codec.normalizer.format is None  # silence decides nothing
    speech_actions = []
    for piece in chunks(clip.astype("<f4").tobytes()):
        speech_actions += codec.received_text(audio_chunk(piece))
    assert codec.normalizer.format == "float32"
    samples = np.concatenate([np.frombuffer(a.audio, "<f4") for a in speech_actions if isinstance(a, SendAudio)])
    assert np.allclose(samples[-len(clip) // 2:], clip[-len(clip) // 2:], atol=1e-6)


def test_a_large_chunk_reaches_the_core_in_pieces_under_its_limit(clip):
    codec = FunAsrCodec("c")
    codec.received_text('{"type": "start_recording"}')
    big = np.resize((clip * 32767).astype("<i2"), 384_000).tobytes()  # 768 KB of int16
    actions = codec.received_text(audio_chunk(big))
    pieces = [a for a in actions if isinstance(a, SendAudio)]
    assert len(pieces) > 1 and max(len(a.audio) for a in pieces) <= MAX_CORE_AUDIO_BYTES
    assert sum(len(a.audio) for a in pieces) == 384_000 * 4
    assert not [m for m in sent(actions) if m["type"] == "error"]


def test_a_dropped_recording_is_kept_finalized_and_resumed_by_a_reconnect():
    codec = recording()
    codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes()))  # takes SESSION_STARTED's place
    [finalize] = codec.client_gone()
    assert isinstance(finalize, SendControl) and finalize.control.HasField("finalize")
    codec.core_response(result("ask not", final=True))  # the finalized words, while nobody is connected
    assert codec.resumed() == []
    [resumed] = sent(codec.received_text('{"type": "start_recording"}'))
    assert resumed["code"] == "SESSION_STARTED" and resumed["message"].startswith("Recording resumed (engine whisper")
    assert sent(codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes()))) == []  # SESSION_STARTED's place
    news = sent(codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes())))
    assert [m.get("code") for m in news] == ["MODEL_LOADED"]
    [final] = sent(codec.received_text(audio_chunk(np.zeros(1024, np.float32).tobytes())))
    assert final["type"] == "recognition_result" and final["text"] == "ask not" and final["is_final"]


def test_only_an_open_recording_is_kept_for_a_reconnect():
    assert FunAsrCodec("c").client_gone() is None  # no recording: nothing to keep
    stopping = recording()
    stopping.received_text('{"type": "stop_recording"}')
    assert stopping.client_gone() == []  # its whole transcript is on its way
    timed_out = recording()
    timed_out.idle()
    assert timed_out.client_gone() is None  # it closes once stopped anyway
