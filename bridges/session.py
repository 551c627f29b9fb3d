"""The pump behind one client connection: client frames, core events and timers in; codec
actions out. It speaks to the client only through a `Transport` (bridges/transport.py).

Everything that touches the codec happens in `SessionPump.run()`, one event at a time, so a
codec never sees concurrent calls. Two helper tasks only move data into the event queue: the
client reader (with the size check) and the core stream (bridges/core_client.py).

Backpressure (docs/limits.md): the event queue holds at most `EVENT_QUEUE_SIZE` events. The
reader awaits room in it, and before reading the next frame also waits until the core stream
has room for more audio, so a client sending faster than the core takes audio is slowed by
TCP (the WebSocket transport stops reading the socket once its own `max_queue` frames are buffered). A
message to the client must be sent within `send_timeout`; otherwise the connection is closed
(the transport aborted if the close frame cannot be sent either) and the core stream
cancelled. While a send is blocked, the timers still fire: drain and max duration end the
connection at once (a client that does not read cannot get the dialect's goodbye), idle is
given to the codec on time and its messages follow the blocked one.
"""
from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from asr.v1 import asr_pb2
from bridges import metrics
from bridges.codec import (CLIENT_FAULT_CLOSE_CODES, Action, Close, CloseCode, Codec, CoreError, EndAudio,
                           EndReason, SendAudio, SendControl, SendJson, StartStream)
from bridges.core_client import CoreDone, CoreFailed, CorePool, CoreStream
from asr_common.redact import new_error_id
from bridges.hygiene import public_core_error
from bridges.resume import ParkedSession, drop_client_events, keep
from bridges.transport import ClientFrame, ClientGone, Transport, TransportClosed

log = logging.getLogger("bridges.session")

EVENT_QUEUE_SIZE = 8  # client frames + core responses waiting for the pump, per session


@dataclass(frozen=True)
class SessionLimits:
    max_message_bytes: int
    idle_timeout: float | None
    max_session_seconds: float | None
    drain_grace: float
    send_timeout: float = 15.0
    close_timeout: float = 2.0  # for the close handshake once we decided to close


class Timer(enum.Enum):
    """The pump's deadlines, returned by `_next_event` when one passes before any event."""

    IDLE = "idle"
    DRAIN = "drain"
    MAX_DURATION = "max_duration"


@dataclass(frozen=True)
class FrameTooLarge:
    """A client frame over the dialect's max message size (the frame itself is dropped)."""

    size: int


@dataclass(frozen=True)
class EndRequested:
    """Another task asks the session to end (`SessionPump.request_end`)."""

    reason: EndReason


# Close codes of a session the runtime ends (docs/bridges.md): a codec's normal close (1000)
# during that end is replaced by these, so a client can tell them from a normal end.
DRAIN_CLOSE_CODES = {EndReason.SHUTDOWN: CloseCode.GOING_AWAY, EndReason.MAX_DURATION: CloseCode.POLICY_VIOLATION}


@dataclass
class SessionStats:
    """What the session_end log line reports."""

    frames_in: int = 0  # from the client
    bytes_in: int = 0
    audio_bytes: int = 0
    results: collections.Counter[str] = field(default_factory=collections.Counter)  # from the core, by kind
    messages_out: int = 0  # to the client
    errors_out: int = 0
    core: str = ""
    end: str = ""
    close_code: int | None = None
    started: float = field(default_factory=time.monotonic)


class SessionPump:
    """Runs one connection of one dialect until the socket is closed."""

    def __init__(self, transport: Transport, codec: Codec, pool: CorePool, *, session_id: str,
                 dialect: str, limits: SessionLimits, park: Callable[[ParkedSession], bool] | None = None,
                 resume: ParkedSession | None = None) -> None:
        """`park`: keeps this session for a reconnect when its client leaves and the codec asks
        (bridges/resume.py); `resume`: a kept session this connection takes over."""
        self.transport = transport
        self.codec = codec
        self.pool = pool
        self.session_id = session_id
        self.dialect = dialect
        self.limits = limits
        self.stats = SessionStats()
        self._events: asyncio.Queue = asyncio.Queue(maxsize=EVENT_QUEUE_SIZE)
        if resume is not None:  # the kept session's core responses, without its old client's events
            self._events = resume.events
            drop_client_events(self._events, lambda e: isinstance(e, (asr_pb2.RecognizeResponse, CoreFailed, CoreDone)))
        self._pending: collections.deque[Action] = collections.deque()
        self._core: CoreStream | None = resume.core if resume else None
        self._park = park
        self.parked = False  # kept for a reconnect when the connection ended
        self.done = asyncio.Event()  # run() is over
        self._client_left = False  # the client's connection was lost (or taken over), not closed by either side
        self._closed = False
        self._end_requested: EndReason | None = None
        self._draining: EndReason | None = None
        self._drain_deadline = float("inf")
        self._last_activity = time.monotonic()

    def request_end(self, reason: EndReason) -> None:
        """Ask the session to finish (graceful shutdown); safe to call from any task."""
        self._end_requested = self._end_requested or reason
        try:  # wakes an idle pump; a busy one sees the flag after its current event
            self._events.put_nowait(EndRequested(reason))
        except asyncio.QueueFull:
            pass

    async def run(self, first_actions: list[Action]) -> None:
        reader = asyncio.create_task(self._read_client(), name=f"reader-{self.session_id}")
        try:
            await self._perform(first_actions)
            while not self._closed:
                event = await self._next_event()
                await self._dispatch(event)
                if self._end_requested and not self._draining and not self._closed:
                    if self._end_requested is EndReason.REPLACED:
                        await self._replaced()
                    else:
                        await self._begin_drain(self._end_requested)
        finally:
            reader.cancel()
            if self._core is not None and not self._keep_for_reconnect():
                await self._core.cancel()
            if not self._closed:
                await self._close(CloseCode.INTERNAL_ERROR, "bridge error")
            self.stats.close_code = self.stats.close_code or self.transport.close_code
            self.done.set()

    def _keep_for_reconnect(self) -> bool:
        """The client left with the core stream open: keep the session for a new connection with
        the same unique id when the codec asks (bridges/resume.py)."""
        if self._park is None or not self._client_left or self._draining or self._core is None:
            return False
        self.stats.core = self._core.address
        if not keep(ParkedSession(self.codec, self._core, self._events, self.session_id), self._park):
            return False
        self._core, self.parked = None, True
        self.stats.end = f"{self.stats.end}; kept for a reconnect"
        return True

    # ---- event sources --------------------------------------------------------------------
    async def _read_client(self) -> None:
        while isinstance(event := await self.transport.receive(), ClientFrame):
            message = event.data
            size = len(message) if isinstance(message, bytes) else len(message.encode())
            metrics.frame_in(self.dialect, message, size)
            if size > self.limits.max_message_bytes:
                metrics.frame_rejected(self.dialect, "too_large")
                await self._events.put(FrameTooLarge(size))
            else:
                await self._events.put(event)
            if self._core is not None:
                await self._core.wait_for_room()
        refusal = self.transport.layer_refusal()
        if refusal is not None and not self._closed:
            # The transport itself refused a frame (invalid UTF-8, over the size backstop, ...).
            log.warning("session=%s dialect=%s closed by the transport: %s", self.session_id, self.dialect,
                        refusal)
        await self._events.put(event)

    def _deadline(self) -> tuple[float, Timer]:
        candidates = [(self._drain_deadline, Timer.DRAIN)]
        if not self._draining:
            idle = self.codec.idle_timeout(self.limits.idle_timeout)
            if idle is not None:
                candidates.append((self._last_activity + idle, Timer.IDLE))
            if self.limits.max_session_seconds:
                candidates.append((self.stats.started + self.limits.max_session_seconds, Timer.MAX_DURATION))
        return min(candidates, key=lambda c: c[0])

    async def _next_event(self) -> Any:
        deadline, timer = self._deadline()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return timer
        try:
            return await asyncio.wait_for(self._events.get(), timeout=remaining if remaining != float("inf") else None)
        except asyncio.TimeoutError:
            return timer

    # ---- dispatch -------------------------------------------------------------------------
    def _codec_call(self, method: Any, *args: Any) -> list[Action]:
        """Call the codec; a bug in it ends this session with an error id, never the bridge."""
        try:
            return method(*args)
        except Exception:
            error_id = new_error_id()
            log.exception("session=%s dialect=%s error_id=%s codec %s failed", self.session_id, self.dialect,
                          error_id, getattr(method, "__name__", "?"))
            self.stats.end = f"internal error {error_id}"
            return self.codec.internal_error(error_id)

    async def _client_input(self, actions: list[Action]) -> None:
        """Perform the codec's answer to one client frame; log one WARNING if it refused it."""
        problems = [text for a in actions if isinstance(a, SendJson) and (text := self.codec.rejection(a.payload))]
        problems += [f"close {a.code} {a.reason}" for a in actions
                     if isinstance(a, Close) and a.code in CLIENT_FAULT_CLOSE_CODES]
        if problems:
            log.warning("session=%s dialect=%s client input refused: %s", self.session_id, self.dialect,
                        problems[0][:300])
        await self._perform(actions)

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
                await self._client_input(self._codec_call(codec.binary_frame, event.data))
            else:
                await self._client_input(self._codec_call(codec.text_frame, event.data))
        elif isinstance(event, FrameTooLarge):
            self._last_activity = time.monotonic()
            self.stats.frames_in += 1
            await self._client_input(self._codec_call(codec.frame_too_large, event.size,
                                                      self.limits.max_message_bytes))
        elif isinstance(event, ClientGone):
            self.stats.end = self.stats.end or f"client closed ({event.code})"
            self._closed = True
            # a connection lost (1006), not closed on purpose: its session may be resumed
            self._client_left = event.code not in (CloseCode.NORMAL, CloseCode.GOING_AWAY)
        elif isinstance(event, asr_pb2.RecognizeResponse):
            if self._core is not None:
                self.stats.core = self._core.address
            self._count_result(event)
            await self._perform(self._codec_call(codec.core_response, event))
        elif isinstance(event, CoreFailed):
            self._core = None
            self.stats.end = f"core error {event.error.code}"
            metrics.core_error(self.dialect, event.error.code)
            await self._perform(self._codec_call(codec.core_error, self._public_error(event.error)))
            await self._close_if_draining()
        elif isinstance(event, CoreDone):
            self._core = None
            await self._perform(self._codec_call(codec.core_finished))
            await self._close_if_draining()
        elif isinstance(event, EndRequested) and event.reason is EndReason.REPLACED:
            await self._replaced()
        elif isinstance(event, EndRequested):
            await self._begin_drain(event.reason)
        elif event is Timer.MAX_DURATION:
            await self._begin_drain(EndReason.MAX_DURATION)
        elif event is Timer.IDLE:
            self._last_activity = time.monotonic()
            await self._perform(self._codec_call(codec.idle))
        elif event is Timer.DRAIN:
            self.stats.end = f"{self._draining}: core did not finish in {self.limits.drain_grace:.0f}s"
            await self._close(CloseCode.INTERNAL_ERROR, "could not finish the session in time")

    def _public_error(self, error: CoreError) -> CoreError:
        error_id = new_error_id()
        log.warning("session=%s dialect=%s core error %s error_id=%s: %s", self.session_id, self.dialect,
                    error.code, error_id, error.message)
        return public_core_error(error, error_id)

    def _count_result(self, response: asr_pb2.RecognizeResponse) -> None:
        if response.WhichOneof("response") == "result":
            self.stats.results["final" if response.result.is_final else "partial"] += 1

    async def _begin_drain(self, reason: EndReason) -> None:
        if self._draining or self._closed:
            return
        self.stats.end = reason
        self._drain_deadline = time.monotonic() + self.limits.drain_grace
        await self._perform(self._codec_call(self.codec.ending, reason))  # the codec's own close codes stand
        self._draining = reason
        if self._closed:
            return
        if self._core is not None:
            self._core.end()
        else:
            await self._close(DRAIN_CLOSE_CODES[reason], reason.value.replace("_", " "))

    async def _close_if_draining(self) -> None:
        if self._draining and not self._closed:
            await self._close(DRAIN_CLOSE_CODES[self._draining], self._draining.value.replace("_", " "))

    async def _replaced(self) -> None:
        """A new connection took over this one's unique id: stop at once (the old socket is
        usually a dead one nobody noticed yet). A dialect that resumes sessions keeps this one's
        core stream for the new connection (`_keep_for_reconnect`)."""
        if self._closed:
            return
        self.stats.end = "replaced by a new connection"
        self._client_left = True
        if self._core is not None and self._park is None:
            await self._core.cancel()
            self._core = None
        await self._close(CloseCode.NORMAL, "replaced by a new connection with the same id")

    # ---- actions --------------------------------------------------------------------------
    async def _perform(self, actions: list[Action]) -> None:
        """Carry out actions in order. Actions produced while a send is blocked (an idle timer)
        join the same queue, behind the blocked message."""
        self._pending.extend(actions)
        while self._pending and not self._closed:
            action = self._pending.popleft()
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
                if code == CloseCode.NORMAL and self._draining in DRAIN_CLOSE_CODES:
                    code = DRAIN_CLOSE_CODES[self._draining]
                await self._close(code, action.reason)
        self._pending.clear()

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
        """Send one message within send_timeout; timers keep firing while it waits."""
        text = json.dumps(payload, ensure_ascii=False)
        send = asyncio.ensure_future(self.transport.send_text(text))
        give_up = time.monotonic() + self.limits.send_timeout
        try:
            while True:
                deadline, timer = self._deadline()
                now = time.monotonic()
                done, _ = await asyncio.wait({send}, timeout=max(0.0, min(give_up, deadline) - now))
                if done:
                    send.result()
                    break
                now = time.monotonic()
                if now >= give_up:
                    return await self._abort(f"client did not read a message for {self.limits.send_timeout:g}s")
                if now >= deadline and timer is not Timer.IDLE:
                    return await self._abort(f"{timer.value} reached while the client was not reading")
                if now >= deadline:
                    self._last_activity = now
                    self._pending.extend(self._codec_call(self.codec.idle))
        except TransportClosed:
            self.stats.end = self.stats.end or "client vanished"
            self._closed = self._client_left = True
            return
        finally:
            if not send.done():
                send.cancel()
        self.stats.messages_out += 1
        metrics.sent(self.dialect, len(text.encode()))
        if payload.get("type") == "error":
            self.stats.errors_out += 1

    async def _abort(self, reason: str) -> None:
        """A slow reader: close (1008), or drop the TCP connection if even that cannot be sent."""
        log.warning("session=%s dialect=%s %s; closing the connection", self.session_id, self.dialect, reason)
        self.stats.end = reason
        await self._close(CloseCode.POLICY_VIOLATION, "client not reading")

    async def _close(self, code: int, reason: str) -> None:
        self._closed = True
        self.stats.close_code = code
        try:
            await asyncio.wait_for(self.transport.close(code, reason), self.limits.close_timeout)
        except asyncio.TimeoutError:
            self.transport.abort()

    def summary(self) -> str:
        s = self.stats
        return (f"dialect={self.dialect} session={self.session_id} duration={time.monotonic() - s.started:.2f}s "
                f"frames_in={s.frames_in} bytes_in={s.bytes_in} audio_bytes={s.audio_bytes} "
                f"messages_out={s.messages_out} partials={s.results['partial']} finals={s.results['final']} "
                f"errors={s.errors_out} "
                f"core={self._core.address if self._core else s.core or '-'} close={s.close_code} end={s.end!r}")
