"""What the session pump waits for (bridges/session.py): client messages, core events, timers.

The client reader is one of the pump's two helper tasks (the other is the core stream,
bridges/core_client.py); it only moves messages into the pump's bounded event queue, with the
size check, and waits for the core stream to have room before it reads the next message, so a
client sending faster than the core takes audio is slowed by TCP (docs/limits.md).
"""
from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from bridges import metrics
from bridges.codec import EndReason
from bridges.transport import ClientGone, Received, Transport

log = logging.getLogger("bridges.session")

EVENT_QUEUE_SIZE = 8  # client messages + core responses waiting for the pump, per session


class Timer(enum.Enum):
    """The pump's deadlines, returned by its wait when one passes before any event."""

    IDLE = "idle"
    DRAIN = "drain"
    MAX_DURATION = "max_duration"


@dataclass(frozen=True)
class FrameTooLarge:  # a client message over the dialect's max message size (the message is dropped)
    size: int


@dataclass(frozen=True)
class EndRequested:  # another task asks the session to end (`SessionPump.request_end`)
    reason: EndReason


async def read_client(transport: Transport, events: asyncio.Queue, *, max_message_bytes: int, dialect: str,
                      room: Callable[[], Awaitable[None]], closed: Callable[[], bool], label: str) -> None:
    """Move client messages into `events` until the client is gone (its `ClientGone` last).
    `room()` returns once the core stream can take more audio; `closed()` is true once the pump
    ended the connection itself; `label` names the session in logs."""
    while not isinstance(event := await transport.receive(), ClientGone):
        if isinstance(event, Received):
            metrics.frame_in(dialect, event.data, event.size)
            if event.size > max_message_bytes:
                metrics.frame_rejected(dialect, "too_large")
                await events.put(FrameTooLarge(event.size))
            else:
                await events.put(event)
            await room()
        else:  # InputEnded: the client sends nothing more; the next receive() reports it gone
            await events.put(event)
    refusal = transport.layer_refusal()
    if refusal is not None and not closed():
        # The transport itself refused a message (invalid UTF-8, over the size backstop, ...).
        log.warning("%s dialect=%s closed by the transport: %s", label, dialect, refusal)
    await events.put(event)
