"""One HTTP request served as a session (bridges/transports/http.py): request/response or
server-sent events. The request body is the client's input; the answer is one response
(`ExchangeTransport`) or a `text/event-stream` of the codec's messages as they come
(`EventStreamTransport`).

- Input: the body arrives in chunks as `received_bytes` (at most `max_message_bytes` in all:
  a `Content-Length` above it is refused with 413 before any session, and a body that grows past
  it is answered 413 at once); the end of the body is `input_ended`. A client that disconnects
  is `ClientGone(lost=True)`.
- Request/response: every `Send*` is kept until the session ends; then the ending's HTTP status
  (bridges/endings.py `http_ending`: 200, 400, 413, 500, 503 + Retry-After) goes out with
  what was sent as the body (several messages: one per line), or, when nothing was, a JSON
  `{"error": {"message": reason, "type": kind}}`.
- Server-sent events: the head (200, `text/event-stream`) goes out with the first message; each
  `SendEvent` is one event (`event:`, `id:`, one `data:` line per line), `SendJson`/`SendText`
  an unnamed event. An ending before the first message is answered like request/response; after
  it the stream just ends (the dialect's own error event said why). A client that does not
  read blocks `send` (uvicorn waits on the socket's buffer), so the runtime's send timeout ends it.
"""
from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Callable

from bridges.endings import EndKind, Ending, http_ending
from bridges.transport import (ClientGone, InputEnded, Outgoing, Received, SendBytes, SendEvent, SendJson,
                               SendMessage, SendText, TransportClosed, Upgrade, json_text)

MEDIA_TYPES = {SendJson: "application/json", SendText: "text/plain; charset=utf-8",
               SendBytes: "application/octet-stream", SendEvent: "text/plain; charset=utf-8",
               SendMessage: "application/x-protobuf"}
EVENT_STREAM_HEADERS = ((b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"))


def body_of(outgoing: Outgoing) -> bytes:
    if isinstance(outgoing, SendJson):
        return json_text(outgoing.payload).encode()
    if isinstance(outgoing, (SendText, SendEvent)):
        return (outgoing.text if isinstance(outgoing, SendText) else outgoing.data).encode()
    if isinstance(outgoing, SendBytes):
        return outgoing.data
    return outgoing.message.SerializeToString()


def event_of(outgoing: Outgoing) -> bytes:
    """One server-sent event (HTML Living Standard, "event stream interpretation")."""
    if isinstance(outgoing, (SendBytes, SendMessage)):
        raise TypeError("an event stream carries text: send SendEvent, SendJson or SendText")
    lines = []
    if isinstance(outgoing, SendEvent):
        if outgoing.event:
            lines.append(f"event: {outgoing.event}")
        if outgoing.id is not None:
            lines.append(f"id: {outgoing.id}")
        data = outgoing.data
    else:
        data = body_of(outgoing).decode()
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def error_body(ending: Ending) -> bytes:
    return json.dumps({"error": {"message": ending.reason or ending.kind.value, "type": ending.kind.value}},
                      ensure_ascii=False).encode()


def encode_headers(headers: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers]


async def respond(send: Callable, status: int, body: bytes, media_type: str,
                  headers: tuple[tuple[str, str], ...] = ()) -> None:
    """One whole HTTP response."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode()),
                            *encode_headers(headers)]})
    await send({"type": "http.response.body", "body": body})


class ExchangeTransport:
    """One HTTP request answered by one response (bridges.transport.Transport)."""

    def __init__(self, receive: Callable, send: Callable, upgrade: Upgrade, max_message_bytes: int,
                 abort: Callable[[], None]) -> None:
        self._receive = receive
        self._send = send
        self.upgrade = upgrade
        self.max_message_bytes = max_message_bytes
        self._abort = abort
        self.body_bytes = 0
        self._body_done = False
        self._input_end_pending = False
        self._gone: ClientGone | None = None
        self._refusal: str | None = None
        self.started = False  # the response head went out
        self.done = asyncio.Event()  # the response is complete (or the connection dropped)
        self._parts: list[tuple[bytes, str]] = []

    # ---- input ------------------------------------------------------------------------------
    async def receive(self) -> Received | InputEnded | ClientGone:
        if self._gone is not None:
            return self._gone
        if self._input_end_pending:
            self._input_end_pending = False
            return InputEnded()
        while not self._body_done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                return self._lost()
            chunk = message.get("body", b"")
            self._body_done = not message.get("more_body", False)
            self.body_bytes += len(chunk)
            if self.body_bytes > self.max_message_bytes:
                return await self._too_large()
            if chunk:
                self._input_end_pending = self._body_done
                return Received(chunk)
            if self._body_done:
                return InputEnded()
        # the body is over: wait for the end of the response or the client leaving
        disconnect = asyncio.ensure_future(self._receive())
        finished = asyncio.ensure_future(self.done.wait())
        try:
            await asyncio.wait({disconnect, finished}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            disconnect.cancel()
            finished.cancel()
        return self._lost() if not self.done.is_set() else self._gone_with("response complete")

    def _lost(self) -> ClientGone:
        self.done.set()
        return self._gone_with("client disconnected", lost=True)

    def _gone_with(self, reason: str, lost: bool = False) -> ClientGone:
        self._gone = self._gone or ClientGone(reason, lost)
        return self._gone

    async def _too_large(self) -> ClientGone:
        reason = f"request body over the {self.max_message_bytes}-byte limit"
        self._refusal = f"413 {reason}"
        if not self.started:
            self.started = True
            await respond(self._send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                          error_body(Ending(EndKind.CLIENT_FAULT, reason)), "application/json")
        self.done.set()
        return self._gone_with(reason)

    def layer_refusal(self) -> str | None:
        return self._refusal

    # ---- output -----------------------------------------------------------------------------
    async def send(self, outgoing: Outgoing) -> int:
        if self.done.is_set():
            raise TransportClosed
        body = body_of(outgoing)
        self._parts.append((body, MEDIA_TYPES[type(outgoing)]))
        return len(body)

    async def close(self, ending: Ending) -> None:
        if self.done.is_set():
            return
        status, headers = http_ending(ending)
        if self._parts:
            body = b"\n".join(part for part, _ in self._parts)
            media_type = self._parts[0][1]
        else:
            body, media_type = (b"", "text/plain") if ending.kind is EndKind.NORMAL else (error_body(ending),
                                                                                         "application/json")
        self.started = True
        try:
            await respond(self._send, status, body, media_type, headers)
        except OSError:
            pass
        self.done.set()

    def abort(self) -> None:
        self.done.set()
        self._abort()


class EventStreamTransport(ExchangeTransport):
    """One HTTP request answered by a stream of server-sent events; or, when the codec's first
    message is not a `SendEvent` (a request that asked for no stream), by one response as
    `ExchangeTransport` answers."""

    async def send(self, outgoing: Outgoing) -> int:
        if self.done.is_set():
            raise TransportClosed
        if self._parts or (not self.started and not isinstance(outgoing, SendEvent)):
            return await super().send(outgoing)
        event = event_of(outgoing)
        try:
            if not self.started:
                self.started = True
                await self._send({"type": "http.response.start", "status": 200, "headers": list(EVENT_STREAM_HEADERS)})
            await self._send({"type": "http.response.body", "body": event, "more_body": True})
        except OSError:
            self._lost()
            raise TransportClosed from None
        return len(event)

    async def close(self, ending: Ending) -> None:
        if self.done.is_set():
            return
        if not self.started:
            return await super().close(ending)
        try:
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass
        self.done.set()

