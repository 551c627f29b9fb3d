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
import logging
import time
from typing import Any, Callable

from asr.v1 import asr_pb2
from asr_common.redact import new_error_id
from bridges import metrics
from bridges.codec import (SEND_ACTIONS, Action, Codec, EndAudio, EndReason, SendAudio, SendControl, StartStream)
from bridges.core_client import CoreDone, CoreFailed, CorePool, CoreStream
from bridges.endings import EndKind, Ending, client_fault, internal, shutting_down
from bridges.faults import CoreError, public_core_error
from bridges.limits import Limits
from bridges.resume import ParkedSession, drop_client_events, keep
from bridges.session_events import EVENT_QUEUE_SIZE, EndRequested, FrameTooLarge, Timer, read_client
from bridges.session_stats import SessionStats
from bridges.transport import ClientGone, InputEnded, Outgoing, Received, SendJson, Transport, TransportClosed

log = logging.getLogger("bridges.session")

# How a session the runtime ends is ended (docs/bridges.md): a codec's normal ending during that
# end is replaced by these, so a client can tell them from a normal end (WebSocket: 1001, 1008).
DRAIN_ENDINGS = {EndReason.SHUTDOWN: shutting_down("shutdown"), EndReason.MAX_DURATION: client_fault("max duration")}


class SessionPump:
    """Runs one connection of one dialect until the socket is closed."""

    def __init__(self, transport: Transport, codec: Codec, pool: CorePool, *, session_id: str,
                 dialect: str, limits: Limits, park: Callable[[ParkedSession], bool] | None = None,
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
        reader = asyncio.create_task(read_client(self.transport, self._events,
                                                 max_message_bytes=self.limits.max_message_bytes,
                                                 dialect=self.dialect, room=self._core_room,
                                                 closed=lambda: self._closed,
                                                 label=f"session={self.session_id}"),
                                     name=f"reader-{self.session_id}")
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
                await self._close(internal("bridge error"))
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
    async def _core_room(self) -> None:
        if self._core is not None:
            await self._core.wait_for_room()

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
        """Perform the codec's answer to one client message; log one WARNING if it refused it."""
        problems = [text for a in actions if isinstance(a, SendJson) and (text := self.codec.rejection(a.payload))]
        problems += [f"end {a.kind} {a.reason}" for a in actions if isinstance(a, Ending) and a.client_fault]
        if problems:
            log.warning("session=%s dialect=%s client input refused: %s", self.session_id, self.dialect,
                        problems[0][:300])
        await self._perform(actions)

    async def _dispatch(self, event: Any) -> None:
        codec = self.codec
        if isinstance(event, Received):
            self._last_activity = time.monotonic()
            self.stats.frames_in += 1
            self.stats.bytes_in += event.size
            if self._draining:
                metrics.frame_rejected(self.dialect, "after_end")
                return  # the session is finishing; late messages are dropped
            if isinstance(event.data, bytes):
                await self._client_input(self._codec_call(codec.received_bytes, event.data))
            elif isinstance(event.data, str):
                await self._client_input(self._codec_call(codec.received_text, event.data))
            else:
                await self._client_input(self._codec_call(codec.received_message, event.data))
        elif isinstance(event, InputEnded):
            self._last_activity = time.monotonic()
            if not self._draining:
                await self._client_input(self._codec_call(codec.input_ended))
        elif isinstance(event, FrameTooLarge):
            self._last_activity = time.monotonic()
            self.stats.frames_in += 1
            await self._client_input(self._codec_call(codec.frame_too_large, event.size,
                                                      self.limits.max_message_bytes))
        elif isinstance(event, ClientGone):
            self.stats.end = self.stats.end or f"client closed ({event.reason})"
            self._closed = True
            self._client_left = event.lost  # lost, not closed on purpose: its session may be resumed
        elif isinstance(event, asr_pb2.RecognizeResponse):
            if self._core is not None:
                self.stats.core = self._core.address
            self._count_result(event)
            await self._perform(self._codec_call(codec.core_response, event))
        elif isinstance(event, CoreFailed):
            self._core = None
            self.stats.end = f"core error {event.error.code.name}"
            metrics.core_error(self.dialect, event.error.code.name)
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
            await self._close(internal("could not finish the session in time"))

    def _public_error(self, error: CoreError) -> CoreError:
        error_id = new_error_id()
        log.warning("session=%s dialect=%s core error %s error_id=%s: %s", self.session_id, self.dialect,
                    error.code.name, error_id, error.message)
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
            await self._close(DRAIN_ENDINGS[reason])

    async def _close_if_draining(self) -> None:
        if self._draining and not self._closed:
            await self._close(DRAIN_ENDINGS[self._draining])

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
        await self._close(Ending(EndKind.NORMAL, "replaced by a new connection with the same id"))

    # ---- actions --------------------------------------------------------------------------
    async def _perform(self, actions: list[Action]) -> None:
        """Carry out actions in order. Actions produced while a send is blocked (an idle timer)
        join the same queue, behind the blocked message."""
        self._pending.extend(actions)
        while self._pending and not self._closed:
            action = self._pending.popleft()
            if isinstance(action, SEND_ACTIONS):
                await self._send(action)
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
            elif isinstance(action, Ending):
                if not self.stats.end:
                    self.stats.end = action.reason or "closed by bridge"
                if action.kind is EndKind.NORMAL and action.ws_code in (None, 1000) and self._draining:
                    action = DRAIN_ENDINGS[self._draining]
                await self._close(action)
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

    async def _send(self, outgoing: Outgoing) -> None:
        """Send one message within send_timeout; timers keep firing while it waits."""
        send = asyncio.ensure_future(self.transport.send(outgoing))
        give_up = time.monotonic() + self.limits.send_timeout
        try:
            while True:
                deadline, timer = self._deadline()
                now = time.monotonic()
                done, _ = await asyncio.wait({send}, timeout=max(0.0, min(give_up, deadline) - now))
                if done:
                    size = send.result()
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
        metrics.sent(self.dialect, size)
        if isinstance(outgoing, SendJson) and self.codec.rejection(outgoing.payload) is not None:
            self.stats.errors_out += 1

    async def _abort(self, reason: str) -> None:
        """A slow reader: end it (client fault), or drop the connection if even that cannot be sent."""
        log.warning("session=%s dialect=%s %s; closing the connection", self.session_id, self.dialect, reason)
        self.stats.end = reason
        await self._close(client_fault("client not reading"))

    async def _close(self, ending: Ending) -> None:
        self._closed = True
        self.stats.ending = ending
        try:
            await asyncio.wait_for(self.transport.close(ending), self.limits.close_timeout)
        except asyncio.TimeoutError:
            self.transport.abort()

    def summary(self) -> str:
        return self.stats.summary(self.dialect, self.session_id, self._core.address if self._core else None)
