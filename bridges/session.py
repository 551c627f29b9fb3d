"""The pump behind one WebSocket connection: client frames, core events and timers in; codec
actions out.

Everything that touches the codec happens in `SessionPump.run()`, one event at a time, so a
codec never sees concurrent calls. Two helper tasks only move data into the event queue: the
client reader (with the size check) and the core stream (bridges/core_client.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from asr.v1 import asr_pb2
from bridges import metrics
from bridges.codec import (Action, Close, Codec, EndAudio, SendAudio, SendControl, SendJson,
                           StartStream)
from bridges.core_client import CoreDone, CoreFailed, CorePool, CoreResponse, CoreStream

log = logging.getLogger("bridges.session")


@dataclass(frozen=True)
class ClientFrame:
    data: str | bytes


@dataclass(frozen=True)
class FrameTooLarge:
    size: int


@dataclass(frozen=True)
class ClientGone:
    code: int | None
    reason: str


@dataclass(frozen=True)
class EndRequested:
    reason: str  # "shutdown" | "max_duration" | "replaced"


# Close codes of a session the runtime ends (docs/bridges.md): a codec's normal close (1000)
# during that end is replaced by these, so a client can tell them from a normal end.
DRAIN_CLOSE_CODES = {"shutdown": 1001, "max_duration": 1008}


@dataclass
class SessionStats:
    frames_in: int = 0
    bytes_in: int = 0
    audio_bytes: int = 0
    messages_out: int = 0
    partials: int = 0
    finals: int = 0
    errors_out: int = 0
    core: str = ""
    end: str = ""
    close_code: int | None = None
    started: float = field(default_factory=time.monotonic)


class SessionPump:
    """Runs one connection of one dialect until the socket is closed."""

    def __init__(self, ws: ServerConnection, codec: Codec, pool: CorePool, *, session_id: str,
                 dialect: str, max_message_bytes: int, idle_timeout: float | None,
                 max_session_seconds: float | None, drain_grace: float) -> None:
        self.ws = ws
        self.codec = codec
        self.pool = pool
        self.session_id = session_id
        self.dialect = dialect
        self.max_message_bytes = max_message_bytes
        self.default_idle = idle_timeout
        self.max_session_seconds = max_session_seconds
        self.drain_grace = drain_grace
        self.stats = SessionStats()
        self._events: asyncio.Queue = asyncio.Queue()
        self._core: CoreStream | None = None
        self._closed = False
        self._draining: str = ""
        self._drain_deadline = float("inf")
        self._last_activity = time.monotonic()

    def request_end(self, reason: str) -> None:
        """Ask the session to finish (graceful shutdown); safe to call from any task."""
        self._events.put_nowait(EndRequested(reason))

    async def run(self, first_actions: list[Action]) -> None:
        reader = asyncio.create_task(self._read_client(), name=f"reader-{self.session_id}")
        try:
            await self._perform(first_actions)
            while not self._closed:
                event = await self._next_event()
                await self._dispatch(event)
        finally:
            reader.cancel()
            if self._core is not None:
                await self._core.cancel()
            if not self._closed:
                await self.ws.close(1011, "bridge error")
            self.stats.close_code = self.stats.close_code or self.ws.close_code

    # ---- event sources --------------------------------------------------------------------
    async def _read_client(self) -> None:
        try:
            async for message in self.ws:
                size = len(message) if isinstance(message, bytes) else len(message.encode())
                metrics.frame_in(self.dialect, message, size)
                if size > self.max_message_bytes:
                    metrics.frame_rejected(self.dialect, "too_large")
                    self._events.put_nowait(FrameTooLarge(size))
                else:
                    self._events.put_nowait(ClientFrame(message))
        except ConnectionClosed:
            pass
        self._events.put_nowait(ClientGone(self.ws.close_code, self.ws.close_reason or ""))

    def _deadline(self) -> tuple[float, str]:
        now = time.monotonic()
        candidates = [(self._drain_deadline, "drain")]
        if not self._draining:
            idle = self.codec.idle_timeout(self.default_idle)
            if idle is not None:
                candidates.append((self._last_activity + idle, "idle"))
            if self.max_session_seconds:
                candidates.append((self.stats.started + self.max_session_seconds, "max_duration"))
        deadline, kind = min(candidates)
        return deadline - now, kind

    async def _next_event(self) -> Any:
        remaining, kind = self._deadline()
        if remaining <= 0:
            return kind
        try:
            return await asyncio.wait_for(self._events.get(), timeout=remaining if remaining != float("inf") else None)
        except asyncio.TimeoutError:
            return kind

    # ---- dispatch -------------------------------------------------------------------------
    async def _dispatch(self, event: Any) -> None:
        codec = self.codec
        if isinstance(event, ClientFrame):
            self._last_activity = time.monotonic()
            self.stats.frames_in += 1
            self.stats.bytes_in += len(event.data)
            if self._draining:
                metrics.frame_rejected(self.dialect, "after_end")
                return  # the session is finishing; late frames are dropped
            if isinstance(event.data, bytes):
                await self._perform(codec.binary_frame(event.data))
            else:
                await self._perform(codec.text_frame(event.data))
        elif isinstance(event, FrameTooLarge):
            self._last_activity = time.monotonic()
            self.stats.frames_in += 1
            await self._perform(codec.frame_too_large(event.size, self.max_message_bytes))
        elif isinstance(event, ClientGone):
            self.stats.end = f"client closed ({event.code})"
            self._closed = True
        elif isinstance(event, CoreResponse):
            if self._core is not None:
                self.stats.core = self._core.address
            self._count_result(event.response)
            await self._perform(codec.core_response(event.response))
        elif isinstance(event, CoreFailed):
            self._core = None
            self.stats.end = f"core error {event.error.code}"
            metrics.core_error(self.dialect, event.error.code)
            log.warning("session=%s core error %s: %s", self.session_id, event.error.code, event.error.message)
            await self._perform(codec.core_error(event.error))
            await self._close_if_draining()
        elif isinstance(event, CoreDone):
            self._core = None
            await self._perform(codec.core_finished())
            await self._close_if_draining()
        elif isinstance(event, EndRequested) and event.reason == "replaced":
            await self._replaced()
        elif isinstance(event, EndRequested) or event == "max_duration":
            await self._begin_drain(event.reason if isinstance(event, EndRequested) else event)
        elif event == "idle":
            self._last_activity = time.monotonic()
            await self._perform(codec.idle())
        elif event == "drain":
            self.stats.end = f"{self._draining}: core did not finish in {self.drain_grace:.0f}s"
            await self._close(1011, "could not finish the session in time")

    def _count_result(self, response: asr_pb2.RecognizeResponse) -> None:
        if response.WhichOneof("response") == "result":
            if response.result.is_final:
                self.stats.finals += 1
            else:
                self.stats.partials += 1

    async def _begin_drain(self, reason: str) -> None:
        if self._draining or self._closed:
            return
        self.stats.end = reason
        self._drain_deadline = time.monotonic() + self.drain_grace
        await self._perform(self.codec.ending(reason))  # the codec's own close codes stand
        self._draining = reason
        if self._closed:
            return
        if self._core is not None:
            self._core.end()
        else:
            await self._close(DRAIN_CLOSE_CODES[reason], reason.replace("_", " "))

    async def _close_if_draining(self) -> None:
        if self._draining and not self._closed:
            await self._close(DRAIN_CLOSE_CODES[self._draining], self._draining.replace("_", " "))

    async def _replaced(self) -> None:
        """A new connection took over this one's unique id: stop at once (the old socket is
        usually a dead one nobody noticed yet)."""
        if self._closed:
            return
        self.stats.end = "replaced by a new connection"
        if self._core is not None:
            await self._core.cancel()
            self._core = None
        await self._close(1000, "replaced by a new connection with the same id")

    # ---- actions --------------------------------------------------------------------------
    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if self._closed:
                return
            if isinstance(action, SendJson):
                await self._send(action.payload)
            elif isinstance(action, SendAudio):
                if self._core is None:
                    log.debug("session=%s audio with no open core stream dropped", self.session_id)
                    continue
                self.stats.audio_bytes += len(action.audio)
                self._core.send(asr_pb2.RecognizeRequest(audio=action.audio))
            elif isinstance(action, SendControl):
                if self._core is not None:
                    self._core.send(asr_pb2.RecognizeRequest(control=action.control))
            elif isinstance(action, StartStream):
                self._start_stream(action.config)
            elif isinstance(action, EndAudio):
                if self._core is not None:
                    self._core.end()
            elif isinstance(action, Close):
                if not self.stats.end:
                    self.stats.end = action.reason or "closed by bridge"
                code = action.code
                if code == 1000 and self._draining in DRAIN_CLOSE_CODES:
                    code = DRAIN_CLOSE_CODES[self._draining]
                await self._close(code, action.reason)

    def _start_stream(self, config: asr_pb2.StreamingConfig) -> None:
        if self._core is not None:
            log.error("session=%s codec asked for a second core stream; ignored", self.session_id)
            return
        config_copy = asr_pb2.StreamingConfig()
        config_copy.CopyFrom(config)
        if not config_copy.session_id:
            config_copy.session_id = self.session_id
        self._core = CoreStream(self.pool, config_copy, self._events)

    async def _send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, ensure_ascii=False)
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            self.stats.end = self.stats.end or "client vanished"
            self._closed = True
            return
        self.stats.messages_out += 1
        metrics.sent(self.dialect, len(text.encode()))
        if payload.get("type") == "error":
            self.stats.errors_out += 1

    async def _close(self, code: int, reason: str) -> None:
        self._closed = True
        self.stats.close_code = code
        encoded = reason.encode()[:120].decode(errors="ignore")
        try:
            await self.ws.close(code, encoded)
        except ConnectionClosed:
            pass

    def summary(self) -> str:
        s = self.stats
        return (f"dialect={self.dialect} session={self.session_id} duration={time.monotonic() - s.started:.2f}s "
                f"frames_in={s.frames_in} bytes_in={s.bytes_in} audio_bytes={s.audio_bytes} "
                f"messages_out={s.messages_out} partials={s.partials} finals={s.finals} errors={s.errors_out} "
                f"core={self._core.address if self._core else s.core or '-'} close={s.close_code} end={s.end!r}")
