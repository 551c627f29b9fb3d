"""The Wyoming codec (bridges/wyoming/codec.py) and its events, without sockets: the bytes of an
event are the ones the pinned `wyoming` package writes, the state table's transitions, the
transcript chunks, the audio widths."""
from __future__ import annotations

import asyncio
import io
import json

import numpy as np
from wyoming.audio import AudioChunk, AudioChunkConverter
from wyoming.event import Event, async_read_event, write_event

from asr.v1 import asr_pb2
from bridges.codec import EndAudio, SendAudio, StartStream
from bridges.endings import EndKind, Ending
from bridges.transport import SendJson
from bridges.transports.framing import HeaderPayloadFramer, stream_limit
from bridges.wyoming import events
from bridges.engine_catalog import ServedModel
from bridges.wyoming.codec import State, WyomingCodec

FRAMER = HeaderPayloadFramer()


def wire(outgoing: SendJson) -> bytes:
    return FRAMER.encode(json.dumps(outgoing.payload))


def header(kind: str, **data) -> str:
    return json.dumps({"type": kind, "data": data} if data else {"type": kind})


def sent(actions) -> list[dict]:
    return [a.payload for a in actions if isinstance(a, SendJson)]


def final(text: str) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(text=text, is_final=True))


def streaming(codec: WyomingCodec, rate: int = 16000, width: int = 2, channels: int = 1) -> list:
    codec.received_text(header("transcribe", language="en", name="whisper/base"))
    return codec.received_text(header("audio-start", rate=rate, width=width, channels=channels))


def test_an_event_is_written_byte_for_byte_as_the_package_writes_it():
    ours = events.info([ServedModel("whisper", "base", ("en", "de"), True)])
    theirs = io.BytesIO()
    write_event(Event(type="info", data=ours.payload["data"]), theirs)
    assert wire(ours) == theirs.getvalue()
    chunk = events.event("transcript-chunk", {"text": " ünïcode"})
    theirs = io.BytesIO()
    write_event(Event(type="transcript-chunk", data={"text": " ünïcode"}), theirs)
    assert wire(chunk) == theirs.getvalue()


async def test_the_package_reads_what_we_write():
    reader = asyncio.StreamReader(limit=stream_limit(1 << 16))
    reader.feed_data(wire(events.error("bad", "malformed-event")) + wire(events.event("transcript-stop")))
    reader.feed_eof()
    first, second = await async_read_event(reader), await async_read_event(reader)
    assert (first.type, first.data, second.type) == ("error", {"text": "bad", "code": "malformed-event"},
                                                     "transcript-stop")


def test_transcribe_then_audio_start_opens_the_core_stream_with_the_clients_choices():
    [start] = streaming(WyomingCodec(engine="whisper,google"))
    assert isinstance(start, StartStream)
    config = start.config
    assert (config.engine, config.model, config.language) == ("whisper", "base", "en")
    assert (config.sample_rate_hertz, config.audio_channel_count, config.encoding) == (
        16000, 1, asr_pb2.AUDIO_ENCODING_LINEAR16)


def test_finals_are_chunks_that_concatenate_to_the_transcript_in_the_readmes_order():
    codec = WyomingCodec()
    streaming(codec)
    out = sent(codec.received_text(header("audio-chunk", rate=16000, width=2, channels=1)))
    assert isinstance(codec.received_bytes(b"\0\0" * 10)[0], SendAudio)
    out += sent(codec.core_response(final(" And so, my fellow Americans,")))
    assert isinstance(codec.received_text(header("audio-stop"))[0], EndAudio)
    out += sent(codec.core_response(final("ask not.")))
    out += sent(codec.core_finished())
    assert [p["type"] for p in out] == ["transcript-start", "transcript-chunk", "transcript-chunk", "transcript",
                                        "transcript-stop"]
    assert "".join(p["data"]["text"] for p in out[1:3]) == out[3]["data"]["text"] == \
        "And so, my fellow Americans, ask not."
    assert out[3]["data"]["language"] == "en" and codec.state is State.IDLE


def test_out_of_turn_and_unknown_events():
    codec = WyomingCodec()
    assert sent(codec.received_text(header("audio-stop")))[0]["data"]["code"] == "unexpected-event"
    assert sent(codec.received_text(header("audio-chunk", rate=16000, width=2, channels=1)))[0]["data"]["code"] == \
        "audio-before-start"
    assert codec.received_bytes(b"\0\0") == [], "the payload of a refused chunk is dropped"
    assert codec.received_text(header("select-program", name="x")) == []
    assert sent(codec.received_text(header("ping", text="hi"))) == [{"type": "pong", "version": events.VERSION,
                                                                     "data": {"text": "hi"}}]
    assert sent(codec.received_text("{not json"))[0]["data"]["code"] == "malformed-event"
    streaming(codec)
    changed = sent(codec.received_text(header("audio-chunk", rate=8000, width=2, channels=1)))
    assert changed[0]["data"]["code"] == "invalid-audio"


def test_eof_during_a_transcription_delivers_it_then_closes():
    codec = WyomingCodec()
    streaming(codec)
    assert isinstance(codec.input_ended()[0], EndAudio)
    actions = codec.core_finished()
    assert [p["type"] for p in sent(actions)][-2:] == ["transcript", "transcript-stop"]
    assert isinstance(actions[-1], Ending) and actions[-1].kind is EndKind.NORMAL


def test_a_busy_core_is_an_error_event_and_the_connection_stays():
    import grpc

    from bridges.faults import CoreError
    codec = WyomingCodec()
    streaming(codec)
    actions = codec.core_error(CoreError(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", 5.0))
    assert sent(actions)[0]["data"]["code"] == "busy" and not any(isinstance(a, Ending) for a in actions)
    assert codec.state is State.IDLE


def test_8_and_24_bit_audio_reach_the_core_as_16_bit():
    pcm16 = (np.sin(np.arange(1600) / 5) * 20000).astype("<i2").tobytes()
    original = AudioChunk(rate=16000, width=2, channels=1, audio=pcm16)
    for width in (1, 3):
        converted = AudioChunkConverter(width=width).convert(original)
        back = events.AudioFormat(16000, width, 1).to_core(converted.audio)
        error = np.abs(np.frombuffer(back, "<i2").astype(int) - np.frombuffer(pcm16, "<i2"))
        assert len(back) == len(pcm16) and error.max() <= (256 if width == 1 else 1), width
