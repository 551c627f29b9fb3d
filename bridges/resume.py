"""Sessions kept for a reconnect: "use same client_id for reconnection within 5 minutes" (funasr).

When a client's connection drops (or a new connection with its unique id takes over a socket
nobody noticed was dead) while its recording is open, the pump asks the codec
(`Codec.client_gone`); a codec that keeps the session has its codec, its core stream and the
queue the core's responses arrive in parked here under the unique id. A new connection with
that id within `seconds` adopts all three (`SessionPump(resume=...)`): it gets what the dropped
connection had not received and the recording goes on. Unclaimed, the session is dropped
(core stream cancelled) when its time is up.

Bounds: at most `capacity` sessions are kept (a full store keeps no more: those sessions end
as before), each for `seconds`; a kept session's core responses wait in its bounded event
queue (bridges/session.py), and beyond that the core's own flow control holds them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from asr.v1 import asr_pb2
from bridges.codec import Codec, EndAudio, SendControl

if TYPE_CHECKING:
    from bridges.core_client import CoreStream

log = logging.getLogger("bridges.resume")


@dataclass
class ParkedSession:
    """What a dropped connection leaves for its successor."""

    codec: Codec
    core: "CoreStream"
    events: asyncio.Queue  # the core's responses since the drop, then more as they come
    session_id: str  # the dropped connection's, for the logs
    parked_at: float = field(default_factory=time.monotonic)


def keep(session: ParkedSession, park: Callable[[ParkedSession], bool]) -> bool:
    """Ask the codec of a session whose client left whether to keep it; if so, carry out its
    core actions (a finalize: there is no client to send to) and `park` it. True when kept."""
    try:
        actions = session.codec.client_gone()
    except Exception:
        log.exception("session=%s codec client_gone failed", session.session_id)
        return False
    if actions is None:
        return False
    for action in actions:
        if isinstance(action, SendControl):
            session.core.send(asr_pb2.RecognizeRequest(control=action.control))
        elif isinstance(action, EndAudio):
            session.core.end()
    return park(session)


def drop_client_events(events: asyncio.Queue, is_core_event: Callable[[object], bool]) -> int:
    """Take the dropped connection's own events out of an adopted queue (its last frames, its
    end, a takeover request), keeping the core's in order. Returns how many were dropped."""
    kept, dropped = [], 0
    while not events.empty():
        event = events.get_nowait()
        if is_core_event(event):
            kept.append(event)
        else:
            dropped += 1
    for event in kept:
        events.put_nowait(event)
    return dropped


class ParkedSessions:
    """Kept sessions by unique id (one bridge process, its event loop only)."""

    def __init__(self, seconds: float, capacity: int) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._sessions: dict[str, ParkedSession] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._sessions)

    def park(self, key: str, session: ParkedSession) -> bool:
        """Keep `session` under `key` for `seconds`; False (not kept) when the store is full."""
        if key in self._sessions:  # cannot happen (one connection per key), but never leak a stream
            self._drop(key, "replaced by a newer one")
        if len(self._sessions) >= self.capacity:
            log.warning("session=%s not kept for a reconnect: %d sessions are kept already", session.session_id,
                        len(self._sessions))
            return False
        self._sessions[key] = session
        self._timers[key] = asyncio.get_running_loop().call_later(self.seconds, self._expire, key, session)
        return True

    def take(self, key: str) -> ParkedSession | None:
        """The session kept under `key`, now no longer kept; None when there is none."""
        session = self._sessions.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        return session

    async def close(self) -> None:
        """Shutdown: drop every kept session."""
        for key in list(self._sessions):
            self._drop(key, "the bridge is shutting down")
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def _expire(self, key: str, session: ParkedSession) -> None:
        if self._sessions.get(key) is session:
            self._drop(key, f"no reconnect within {self.seconds:g} s")

    def _drop(self, key: str, why: str) -> None:
        session = self.take(key)
        if session is None:
            return
        log.info("session=%s kept session dropped (%s); its recording is lost", session.session_id, why)
        session.codec.closed()
        task = asyncio.ensure_future(session.core.cancel())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
