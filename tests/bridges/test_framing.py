"""Message framing of the raw TCP transport (bridges/transports/framing.py), without sockets:
each framer reads what it encodes, refuses a message over the limit before reading it, and
tells a clean end of stream from one inside a message."""
from __future__ import annotations

import asyncio
import json

import pytest

from bridges.transports.framing import (FrameTooLarge, HeaderPayloadFramer, LengthPrefixedFramer, LineFramer,
                                        stream_limit)

LIMIT = 1000


def stream(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=stream_limit(LIMIT))
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def read_all(framer, data: bytes) -> list:
    reader, messages = stream(data), []
    while (parts := await framer.read(reader, LIMIT)) is not None:
        messages.append(parts)
    return messages


async def test_json_lines_are_one_text_message_each_and_end_cleanly():
    framer = LineFramer()
    data = framer.encode('{"type": "a"}') + framer.encode("two\nlines") + b"last\r\n"
    assert await read_all(framer, data) == [['{"type": "a"}'], ["two lines"], ["last"]]
    with pytest.raises(TypeError):
        framer.encode(b"bytes")


async def test_a_line_over_the_limit_is_refused_before_it_is_read():
    with pytest.raises(FrameTooLarge) as refused:
        await read_all(LineFramer(), b"x" * (LIMIT + 10) + b"\n")
    assert refused.value.limit == LIMIT


async def test_length_prefixed_messages_round_trip_and_a_large_length_is_refused():
    framer = LengthPrefixedFramer()
    assert await read_all(framer, framer.encode(b"\x00\x01") + framer.encode("text")) == [[b"\x00\x01"], [b"text"]]
    with pytest.raises(FrameTooLarge) as refused:
        await read_all(framer, (LIMIT + 1).to_bytes(4, "big"))
    assert refused.value.size == LIMIT + 1


async def test_a_stream_ending_inside_a_message_is_an_incomplete_read():
    with pytest.raises(asyncio.IncompleteReadError):
        await read_all(LengthPrefixedFramer(), (10).to_bytes(4, "big") + b"short")
    with pytest.raises(asyncio.IncompleteReadError):
        await read_all(LineFramer(), b"no newline")


async def test_a_header_line_brings_its_data_and_payload_as_wyoming_frames_them():
    data = json.dumps({"x": 1}).encode()
    header = {"type": "audio-chunk", "data": {"rate": 16000}, "data_length": len(data), "payload_length": 4}
    message = json.dumps(header).encode() + b"\n" + data + b"\x01\x02\x03\x04"
    [[text, payload], stop] = await read_all(HeaderPayloadFramer(), message + b'{"type": "audio-stop"}\n')
    assert json.loads(text) == {"type": "audio-chunk", "data": {"rate": 16000, "x": 1}, "payload_length": 4}
    assert payload == b"\x01\x02\x03\x04" and stop == ['{"type": "audio-stop"}']


async def test_a_header_naming_a_payload_over_the_limit_is_refused_before_the_payload():
    with pytest.raises(FrameTooLarge):
        await read_all(HeaderPayloadFramer(), json.dumps({"payload_length": LIMIT + 1}).encode() + b"\n")
    with pytest.raises(ValueError):
        await read_all(HeaderPayloadFramer(), json.dumps({"payload_length": -1}).encode() + b"\n")
