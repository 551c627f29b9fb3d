"""gRPC side of a bridge: a pool of cores and one Recognize call per session.

`CorePool` holds one channel per core address and hands them out round robin. `CoreStream`
runs one Recognize call: it sends the config, and if a core is unreachable (or full) before
it answered anything, it retries the config on the next core in the rotation. Once the first
response arrived the session is bound to that core. Everything the call produces is pushed
into the session's event queue as `CoreResponse`, `CoreFailed` or `CoreDone`.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Union

import grpc
from google.rpc import error_details_pb2, status_pb2

from asr.v1 import asr_pb2, asr_pb2_grpc
from bridges.auth import core_metadata
from bridges.codec import CoreError

log = logging.getLogger("bridges.core")

DEFAULT_CORE = "localhost:50051"
# Fail over to the next core only for errors that say "this core cannot take you right now".
FAILOVER_CODES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
# Short reconnect backoff so a bridge notices a restarted core within about a second.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
)


def parse_core_addresses(value: str) -> list[str]:
    """'a:1,b:2' -> ['a:1', 'b:2']; raises ValueError with a hint when empty or malformed."""
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    if not addresses:
        raise ValueError(f"no core address in {value!r}; expected HOST:PORT[,HOST:PORT...]")
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"bad core address {address!r}; expected HOST:PORT, e.g. localhost:50051")
    return addresses


@dataclass(frozen=True)
class CoreResponse:
    response: asr_pb2.RecognizeResponse


@dataclass(frozen=True)
class CoreFailed:
    error: CoreError


@dataclass(frozen=True)
class CoreDone:
    """The call ended with OK."""


CoreEvent = Union[CoreResponse, CoreFailed, CoreDone]


def core_error_from_rpc(error: grpc.aio.AioRpcError) -> CoreError:
    """Turn a failed call into a CoreError, reading google.rpc details from the trailers."""
    code = error.code().name if error.code() is not None else "UNKNOWN"
    message = error.details() or ""
    retry_after: float | None = None
    reason = ""
    violations: list[tuple[str, str]] = []
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        message = status.message or message
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                retry_after = info.retry_delay.ToTimedelta().total_seconds()
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                info = error_details_pb2.BadRequest()
                detail.Unpack(info)
                violations += [(v.field, v.description) for v in info.field_violations]
    return CoreError(code, message, retry_after, reason, tuple(violations))


class CorePool:
    """Channels to one or more cores, handed out round robin."""

    def __init__(self, addresses: list[str], credentials: grpc.ChannelCredentials | None = None) -> None:
        self.addresses = list(addresses)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._next = itertools.count()
        self._credentials = credentials  # None = plaintext
        self._retired: list[grpc.aio.Channel] = []  # channels of old credentials, closed at the end

    def set_credentials(self, credentials: grpc.ChannelCredentials) -> None:
        """New TLS material (SIGHUP): new sessions use new channels; open ones keep theirs."""
        self._credentials = credentials
        self._retired += self._channels.values()
        self._channels = {}

    def rotation(self) -> list[str]:
        """All addresses, starting with the next one in round-robin order."""
        start = next(self._next) % len(self.addresses)
        return self.addresses[start:] + self.addresses[:start]

    def stub(self, address: str) -> asr_pb2_grpc.RecognizerServiceStub:
        channel = self._channels.get(address)
        if channel is None:
            channel = (grpc.aio.secure_channel(address, self._credentials, options=CHANNEL_OPTIONS)
                       if self._credentials is not None else grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS))
            self._channels[address] = channel
        return asr_pb2_grpc.RecognizerServiceStub(channel)

    async def close(self) -> None:
        for channel in [*self._channels.values(), *self._retired]:
            await channel.close(grace=None)
        self._channels.clear()
        self._retired.clear()


class CoreStream:
    """One Recognize call for one session (see module docstring)."""

    _END: Any = object()

    def __init__(self, pool: CorePool, config: asr_pb2.StreamingConfig, events: asyncio.Queue) -> None:
        self._pool = pool
        self._config = config
        self._events = events
        self._outgoing: asyncio.Queue = asyncio.Queue()
        self._call: Any = None
        self.address = ""
        self.ended = False
        self._task = asyncio.create_task(self._run(), name="core-stream")

    def send(self, request: asr_pb2.RecognizeRequest) -> None:
        if not self.ended:
            self._outgoing.put_nowait(request)

    def end(self) -> None:
        """Half-close: no more audio; the core finishes and ends the call."""
        if not self.ended:
            self.ended = True
            self._outgoing.put_nowait(self._END)

    async def cancel(self) -> None:
        self.ended = True
        if self._call is not None:
            self._call.cancel()
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass

    async def _connect(self) -> tuple[Any, asr_pb2.RecognizeResponse | None] | CoreError:
        """Open the call on the first core that answers; returns (call, first response)."""
        failures: list[str] = []
        last: CoreError | None = None
        for address in self._pool.rotation():
            call = self._pool.stub(address).Recognize(metadata=core_metadata())
            self._call = call
            try:
                await call.write(asr_pb2.RecognizeRequest(config=self._config))
                first = await call.read()
            except grpc.aio.AioRpcError as exc:
                error = core_error_from_rpc(exc)
            except asyncio.InvalidStateError:
                # write() on a call that already failed: read the status it failed with.
                code = await call.code()
                error = CoreError(code.name, await call.details() or "")
            else:
                self.address = address
                return call, (None if first is grpc.aio.EOF else first)
            if error.code not in FAILOVER_CODES:
                self.address = address
                return error
            log.warning("core %s refused the session (%s: %s); trying the next core", address, error.code, error.message)
            failures.append(f"{address}: {error.message or error.code}")
            last = error
        assert last is not None
        if len(failures) > 1 or last.code == "UNAVAILABLE":
            message = "no speech-recognition core could take the session (" + "; ".join(failures) + ")"
            return CoreError(last.code, message, last.retry_after, last.reason, last.field_violations)
        return last

    async def _run(self) -> None:
        outcome = await self._connect()
        if isinstance(outcome, CoreError):
            self._events.put_nowait(CoreFailed(outcome))
            return
        call, first = outcome
        writer = asyncio.create_task(self._write(call), name="core-writer")
        try:
            if first is not None:
                self._events.put_nowait(CoreResponse(first))
                while (response := await call.read()) is not grpc.aio.EOF:
                    self._events.put_nowait(CoreResponse(response))
            code = await call.code()
            if code == grpc.StatusCode.OK:
                self._events.put_nowait(CoreDone())
            else:
                self._events.put_nowait(CoreFailed(CoreError(code.name, await call.details() or "")))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED or not self.ended:
                self._events.put_nowait(CoreFailed(core_error_from_rpc(exc)))
        finally:
            writer.cancel()

    async def _write(self, call: Any) -> None:
        try:
            while True:
                item = await self._outgoing.get()
                if item is self._END:
                    await call.done_writing()
                    return
                await call.write(item)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return  # the reader reports the call's status
