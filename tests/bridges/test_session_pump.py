"""SessionPump against an in-memory transport whose client never reads (docs/limits.md, timers):
the send deadline ends the connection, and the timers keep firing while a send is blocked."""
from __future__ import annotations

import asyncio
import time

from asr.v1 import asr_pb2
import grpc

from bridges.codec import Action, Codec, SendJson
from bridges.core_client import CoreFailed, CorePool, CoreStream
from bridges.endings import EndKind, Ending
from bridges.faults import CoreError
from bridges.limits import Limits
from bridges.session import SessionPump
from bridges.transport import ClientGone, Outgoing, Received, Upgrade, as_text_or_bytes


class NeverReadingClient:
    """An in-memory transport that sends nothing, reads nothing: every send and close waits forever."""

    def __init__(self) -> None:
        self.upgrade = Upgrade(path="/", query={}, headers={}, client="127.0.0.1", peer="127.0.0.1:1")
        self.sent: list[str] = []
        self.aborted_at: float | None = None
        self._gone = asyncio.Event()

    def abort(self) -> None:
        self.aborted_at = time.monotonic()
        self._gone.set()

    async def send(self, outgoing: Outgoing) -> int:
        self.sent.append(as_text_or_bytes(outgoing))
        await asyncio.Event().wait()
        return 0

    async def close(self, ending: Ending) -> None:
        await asyncio.Event().wait()

    async def receive(self) -> Received | ClientGone:
        await self._gone.wait()
        return ClientGone("aborted", lost=True)

    def layer_refusal(self) -> str | None:
        return None


class Greeter(Codec):
    """Greets on connect; a short idle timer; records when idle() is called."""

    def __init__(self, idle_after: float | None = None) -> None:
        self.idle_after = idle_after
        self.idle_calls: list[float] = []

    def connected(self) -> list[Action]:
        return [SendJson({"type": "hello"})]

    def idle_timeout(self, default: float | None) -> float | None:
        return self.idle_after if not self.idle_calls else None

    def idle(self) -> list[Action]:
        self.idle_calls.append(time.monotonic())
        return [SendJson({"type": "error", "error": "idle"})]

    def received_text(self, text: str) -> list[Action]:
        return []

    def received_bytes(self, data: bytes) -> list[Action]:
        return []

    def core_response(self, response) -> list[Action]:
        return []

    def core_error(self, error: CoreError) -> list[Action]:
        return []


def pump_for(codec: Codec, ws: NeverReadingClient, **limits: float) -> SessionPump:
    settings = dict(max_message_bytes=1024, idle_timeout=None, max_session_seconds=None, drain_grace=5.0,
                    send_timeout=15.0, close_timeout=0.2)
    settings.update(limits)
    return SessionPump(ws, codec, CorePool("127.0.0.1:1"), session_id="s-1", dialect="test",
                       limits=Limits(**settings))


async def run(pump: SessionPump, codec: Codec) -> float:
    started = time.monotonic()
    await asyncio.wait_for(pump.run(codec.connected()), 10)
    return time.monotonic() - started


async def test_slow_reader_is_closed_after_send_timeout():
    ws, codec = NeverReadingClient(), Greeter()
    pump = pump_for(codec, ws, send_timeout=0.5)
    elapsed = await run(pump, codec)
    assert 0.5 <= elapsed < 1.5, elapsed
    assert ws.aborted_at is not None, "the close frame could not be sent either: the transport is aborted"
    assert pump.stats.ending.kind is EndKind.CLIENT_FAULT and "did not read" in pump.stats.end


async def test_max_duration_fires_while_a_send_is_blocked():
    ws, codec = NeverReadingClient(), Greeter()
    pump = pump_for(codec, ws, max_session_seconds=0.3)
    elapsed = await run(pump, codec)
    assert elapsed < 1.5, elapsed
    assert "max_duration" in pump.stats.end and ws.aborted_at is not None


async def test_idle_fires_while_a_send_is_blocked():
    ws, codec = NeverReadingClient(), Greeter(idle_after=0.2)
    pump = pump_for(codec, ws, send_timeout=1.0)
    started = time.monotonic()
    await run(pump, codec)
    assert codec.idle_calls and codec.idle_calls[0] - started < 0.6, "idle() was not called on time"
    assert ws.sent == ['{"type": "hello"}']  # its message queued behind the blocked one, never sent
    assert "did not read" in pump.stats.end


async def test_core_stream_reports_any_exception_as_a_core_failure():
    class BrokenPool(CorePool):
        def stub(self):
            raise RuntimeError("boom in /srv/secret/path")

    events: asyncio.Queue = asyncio.Queue(maxsize=8)
    stream = CoreStream(BrokenPool("127.0.0.1:1"), asr_pb2.StreamingConfig(), events)
    event = await asyncio.wait_for(events.get(), 5)
    assert isinstance(event, CoreFailed) and event.error.code == grpc.StatusCode.INTERNAL, event
    assert "/srv" not in event.error.message and "error id" in event.error.message
    await asyncio.wait_for(stream.wait_for_room(), 1)  # a dead stream never holds the client reader


async def test_drain_deadline_fires_while_the_goodbye_is_blocked():
    class SaysGoodbye(Greeter):
        def connected(self) -> list[Action]:
            return []

        def ending(self, reason: str) -> list[Action]:
            return [SendJson({"type": "goodbye", "reason": reason})]

    ws, codec = NeverReadingClient(), SaysGoodbye()
    pump = pump_for(codec, ws, drain_grace=0.3, send_timeout=15.0)
    running = asyncio.ensure_future(run(pump, codec))
    await asyncio.sleep(0.1)
    pump.request_end("shutdown")
    elapsed = await running
    assert ws.sent == ['{"type": "goodbye", "reason": "shutdown"}']
    assert elapsed < 1.5, "the shutdown waited for the send timeout, not the drain deadline"
    assert "drain reached" in pump.stats.end and ws.aborted_at is not None
