"""gRPC side of a bridge: one balanced channel to the cores and one Recognize call per session.

`CorePool` holds one channel to the `--core` target (clients/targets.py): gRPC's `round_robin`
policy with client-side health checking spreads the calls over every core the target names and
skips cores that are down, draining or full. `CoreStream` runs one Recognize call: it sends the
config and pushes everything the call produces into the session's event queue: each
`RecognizeResponse` as it is, then `CoreDone` or `CoreFailed`. A core that dies mid-call fails the call (UNAVAILABLE) at once; the
session then ends with its dialect's error and the next session goes to a healthy core.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import grpc

from asr.v1 import asr_pb2, asr_pb2_grpc
from asr_common.redact import new_error_id
from bridges.auth import core_metadata
from bridges.faults import CoreError
from clients.call_status import CallStatus
from clients.errors import from_rpc_error
from clients.targets import channel_options, parse_target

log = logging.getLogger("bridges.core")

DEFAULT_CORE = "localhost:50051"
# Requests queued for the core per session before the client reader pauses (docs/limits.md).
OUTGOING_HIGH_WATER = 32
OUTGOING_LOW_WATER = 8


@dataclass(frozen=True)
class CoreFailed:
    """The call failed (or the core could not be reached)."""

    error: CoreError


@dataclass(frozen=True)
class CoreDone:
    """The call ended with OK."""



def core_error_from_rpc(error: grpc.aio.AioRpcError) -> CoreError:
    """Turn a failed call into a CoreError, its google.rpc details read from the trailers as
    the SDK reads them (clients/errors.py: every core NOT_SERVING is busy, not broken)."""
    parsed = from_rpc_error(error)
    return CoreError(parsed.code, parsed.message or error.details() or "", parsed.retry_after, parsed.reason,
                     tuple((v.field, v.description) for v in parsed.field_violations))


def ending(status: grpc.aio.AioRpcError) -> CoreDone | CoreFailed:
    """The session event for how a call ended."""
    return CoreDone() if status.code() == grpc.StatusCode.OK else CoreFailed(core_error_from_rpc(status))


class CorePool:
    """One balanced, health-checked channel to the cores named by a gRPC target."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.target = parse_target(target)
        self._credentials = credentials  # None = plaintext
        # Opened on first use, inside the bridge's event loop (a Bridge can be built before
        # its loop runs: grpc.aio binds a channel to the loop current when it is made).
        self._current: grpc.aio.Channel | None = None
        self._retired: list[grpc.aio.Channel] = []  # channels of old credentials, closed at the end

    @property
    def _channel(self) -> grpc.aio.Channel:
        if self._current is None:
            self._current = self._open()
        return self._current

    def _open(self) -> grpc.aio.Channel:
        if self._credentials is not None:
            return grpc.aio.secure_channel(self.target, self._credentials, options=channel_options())
        return grpc.aio.insecure_channel(self.target, options=channel_options())

    def set_credentials(self, credentials: grpc.ChannelCredentials) -> None:
        """New TLS material (SIGHUP): new sessions use a new channel; open ones keep theirs."""
        self._credentials = credentials
        if self._current is not None:
            self._retired.append(self._current)
        self._current = self._open()
        self.connect()

    def connect(self) -> None:
        """Connect to every core now, so the first sessions already find all healthy cores
        (an idle channel would send them all to whichever core answered first)."""
        self._channel.get_state(try_to_connect=True)

    def stub(self) -> asr_pb2_grpc.RecognizerServiceStub:
        return asr_pb2_grpc.RecognizerServiceStub(self._channel)

    async def close(self) -> None:
        for channel in [*([self._current] if self._current is not None else []), *self._retired]:
            await channel.close(grace=None)
        self._current = None
        self._retired.clear()


class CoreStream:
    """One Recognize call for one session (see module docstring).

    Requests wait in `_outgoing` until gRPC flow control lets the writer pass them on. The
    session's reader calls `wait_for_room()` before it reads the next client frame, so the
    queue stays under OUTGOING_HIGH_WATER plus what one pump event queue's worth of frames
    produces: a client sending faster than the core reads is slowed down, not buffered.
    """

    _END: Any = object()

    def __init__(self, pool: CorePool, config: asr_pb2.StreamingConfig, events: asyncio.Queue) -> None:
        self._pool = pool
        self._config = config
        self._events = events
        self._outgoing: asyncio.Queue = asyncio.Queue()
        self._room = asyncio.Event()
        self._room.set()
        self._call: Any = None
        self.address = pool.target  # the channel picks the core; its log names the session
        self.ended = False
        self._task = asyncio.create_task(self._run(), name="core-stream")

    def send(self, request: asr_pb2.RecognizeRequest) -> None:
        if not self.ended and not self._task.done():
            self._outgoing.put_nowait(request)
            if self._outgoing.qsize() >= OUTGOING_HIGH_WATER:
                self._room.clear()

    async def wait_for_room(self) -> None:
        """Return once the core has taken enough queued requests (or the call is over)."""
        await self._room.wait()

    def end(self) -> None:
        """Half-close: no more audio; the core finishes and ends the call."""
        if not self.ended:
            self.ended = True
            self._outgoing.put_nowait(self._END)

    async def cancel(self) -> None:
        self.ended = True
        self._room.set()
        if self._call is not None:
            self._call.cancel()
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass

    async def _connect(self) -> tuple[Any, asr_pb2.RecognizeResponse | None] | CoreError:
        """Open the call (the channel picks a healthy core); returns (call, first response)."""
        call = self._pool.stub().Recognize(metadata=core_metadata())
        self._call = call
        self._status = CallStatus(call)
        try:
            await call.write(asr_pb2.RecognizeRequest(config=self._config))
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            return self._failure(await self._status.own(exc))
        except asyncio.InvalidStateError:
            # write() on a call that already failed: read the status it failed with.
            return self._failure(await self._status.own_of(call))
        return call, (None if first is grpc.aio.EOF else first)

    @staticmethod
    def _failure(status: grpc.aio.AioRpcError) -> CoreError:
        if status.code() == grpc.StatusCode.OK:  # ended before its config was read: never our core
            return CoreError(grpc.StatusCode.UNAVAILABLE, "the core ended the call before it started")
        return core_error_from_rpc(status)

    async def _run(self) -> None:
        try:
            await self._run_call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure is the core's, reported once; never a hanging session
            error_id = new_error_id()
            log.error("core stream failed error_id=%s: %s: %s", error_id, type(exc).__name__, exc, exc_info=True)
            await self._events.put(CoreFailed(CoreError(grpc.StatusCode.INTERNAL, f"bridge error id {error_id}")))
        finally:
            self._room.set()  # nothing will drain the queue any more: never hold the reader

    async def _run_call(self) -> None:
        outcome = await self._connect()
        if isinstance(outcome, CoreError):
            await self._events.put(CoreFailed(outcome))
            return
        call, first = outcome
        writer = asyncio.create_task(self._write(call), name="core-writer")
        try:
            if first is not None:
                await self._events.put(first)
                while (response := await call.read()) is not grpc.aio.EOF:
                    await self._events.put(response)
            status = await self._status.own_of(call)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and self.ended:
                return
            status = await self._status.own(exc)
        finally:
            writer.cancel()
        await self._events.put(ending(status))

    async def _write(self, call: Any) -> None:
        try:
            while True:
                item = await self._outgoing.get()
                if self._outgoing.qsize() <= OUTGOING_LOW_WATER:
                    self._room.set()
                if item is self._END:
                    await call.done_writing()
                    return
                await call.write(item)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return  # the reader reports the call's status
