"""Message framing on a raw byte stream (the TCP transport, bridges/transports/tcp.py).

A `Framer` reads one client message from an `asyncio.StreamReader` and encodes one message to
the client. Three framings cover the protocols in view:

- `LineFramer`: one UTF-8 text message per line (newline-delimited JSON); bytes cannot be sent.
- `LengthPrefixedFramer`: a 4-byte big-endian length, then that many bytes (binary messages).
- `HeaderPayloadFramer`: a JSON header line that may name the lengths of a JSON data block and of
  a binary payload that follow it (Wyoming's event framing: `{"type": ..., "data_length": N,
  "payload_length": M}\\n`, N bytes of JSON data, M bytes of payload). The header (with the data
  block merged in as `"data"`) reaches the codec as text, the payload as bytes right after it.

Every read is bounded: a line, a length or a payload over `limit` bytes raises `FrameTooLarge`
before the bytes are read (the connection cannot be resynchronised after that, so the transport
ends it); a stream that ends inside a message raises `asyncio.IncompleteReadError`.
"""
from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from typing import Protocol

Message = str | bytes


class FrameTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class Framer(Protocol):
    async def read(self, reader: asyncio.StreamReader, limit: int) -> list[Message] | None:
        """The next client message (one or more parts, in order); None at a clean end of stream."""

    def encode(self, message: Message) -> bytes:
        """One message to the client, framed."""


async def read_line(reader: asyncio.StreamReader, limit: int) -> str | None:
    """One line without its newline (None at end of stream), at most `limit` bytes long."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    except asyncio.LimitOverrunError as exc:
        raise FrameTooLarge(exc.consumed, limit) from None
    if len(line) - 1 > limit:
        raise FrameTooLarge(len(line) - 1, limit)
    return line[:-1].rstrip(b"\r").decode()


def stream_limit(limit: int) -> int:
    """The StreamReader buffer limit for messages of at most `limit` bytes (plus the newline)."""
    return limit + 2


@dataclass(frozen=True)
class LineFramer:
    """Newline-delimited text (JSON lines)."""

    async def read(self, reader: asyncio.StreamReader, limit: int) -> list[Message] | None:
        line = await read_line(reader, limit)
        return None if line is None else [line]

    def encode(self, message: Message) -> bytes:
        if isinstance(message, bytes):
            raise TypeError("a line protocol carries text only; send JSON or text")
        return message.replace("\n", " ").encode() + b"\n"


LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class LengthPrefixedFramer:
    """A 4-byte big-endian length, then the message (bytes; text is sent UTF-8 encoded)."""

    async def read(self, reader: asyncio.StreamReader, limit: int) -> list[Message] | None:
        try:
            header = await reader.readexactly(LENGTH.size)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise
        (size,) = LENGTH.unpack(header)
        if size > limit:
            raise FrameTooLarge(size, limit)
        return [await reader.readexactly(size)]

    def encode(self, message: Message) -> bytes:
        data = message.encode() if isinstance(message, str) else message
        return LENGTH.pack(len(data)) + data


@dataclass(frozen=True)
class HeaderPayloadFramer:
    """A JSON header line naming the lengths of an optional JSON data block and binary payload."""

    data_length_field: str = "data_length"
    payload_length_field: str = "payload_length"

    async def read(self, reader: asyncio.StreamReader, limit: int) -> list[Message] | None:
        line = await read_line(reader, limit)
        if line is None:
            return None
        try:
            header = json.loads(line)
        except json.JSONDecodeError:
            return [line]  # the codec answers a header that is not JSON in its own words
        if not isinstance(header, dict):
            return [line]
        data_length = self._length(header, self.data_length_field, limit)
        payload_length = self._length(header, self.payload_length_field, limit)
        if data_length:
            data = json.loads(await reader.readexactly(data_length))
            inline = header.get("data") or {}
            if not isinstance(data, dict) or not isinstance(inline, dict):
                raise ValueError("a header's data must be a JSON object")
            header = {**header, "data": {**inline, **data}}
            del header[self.data_length_field]
            line = json.dumps(header, ensure_ascii=False)
        parts: list[Message] = [line]
        if payload_length:
            parts.append(await reader.readexactly(payload_length))
        return parts

    @staticmethod
    def _length(header: dict, name: str, limit: int) -> int:
        value = header.get(name) or 0
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
        if value > limit:
            raise FrameTooLarge(value, limit)
        return value

    def encode(self, message: Message) -> bytes:
        """Text is one header line; bytes are the payload of the header sent just before them
        (the codec names its `payload_length`). A header that is a JSON object with a non-empty
        `data` object is written as the `wyoming` package writes it (event.py
        `async_write_event`): the header line without `data` but with `data_length`, then the
        data block (UTF-8 JSON)."""
        if isinstance(message, bytes):
            return message
        try:
            header = json.loads(message)
        except json.JSONDecodeError:
            header = None
        data = header.get("data") if isinstance(header, dict) else None
        if not (isinstance(data, dict) and data):
            return message.replace("\n", " ").encode() + b"\n"
        block = json.dumps(data, ensure_ascii=False).encode()
        line = {key: value for key, value in header.items() if key != "data"}
        line[self.data_length_field] = len(block)
        return json.dumps(line, ensure_ascii=False).encode() + b"\n" + block
