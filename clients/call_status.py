"""The status a streaming call really ended with, despite grpc/grpc#36066.

grpcio's asyncio client has a race (grpc/grpc#36066; a fix is proposed in grpc/grpc#43486): a
write that fails because the call has just ended gives the call a status of grpcio's own,
INTERNAL "Internal error from Core", which replaces the status the call ended with whenever
the event loop handles the failed write after it. A client writes audio while the core may end
the call at any moment (it aborts on bad audio, drains, or its process dies and the connection
drops with UNAVAILABLE), so about 4 in 10 such endings read as an internal error without this
module (`tests/bridges/test_core_status.py`).

`CallStatus` records each status the call is given, through the call's done callback, and keeps
the first one that is the call's own. In 200 measured calls the call's own status always came
first; grpcio does not promise that order, so should the failed write come first, `own()` waits
briefly for the call's own status (gRPC always delivers it: it watches for it from the start of
a stream-stream call). Used by the SDK (`clients/sdk.py`) and the bridges (`bridges/core_client.py`).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc

log = logging.getLogger("clients.call_status")

# grpcio's own details for a call whose write failed (grpc/aio/_call.py: set_internal_error).
WRITE_FAILURE_DETAILS = "Internal error from Core"
# How long to wait for the call's own status after a failed write's status (it is already on
# its way: it arrives within an event-loop turn or two of the failed write).
OWN_STATUS_WAIT = 2.0

T = TypeVar("T")


def is_write_failure(code: grpc.StatusCode, details: str | None) -> bool:
    """True for the status grpcio makes up when a write fails (never one the core sends: the
    core's INTERNAL always carries an error id)."""
    return code == grpc.StatusCode.INTERNAL and details == WRITE_FAILURE_DETAILS


def _result_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """The value of a coroutine that finishes without waiting: a finished call's status getters
    only read what the call holds."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("a finished call's status getter waited")


class CallStatus:
    """Watches one call from its creation; `own()` gives the status it really ended with."""

    def __init__(self, call: grpc.aio.Call) -> None:
        self._own: grpc.aio.AioRpcError | None = None
        self._arrived = asyncio.Event()
        call.add_done_callback(self._record)

    def _record(self, call: grpc.aio.Call) -> None:
        # Runs inside grpcio each time it sets the call's status: it must not raise.
        if self._own is not None:
            return
        try:
            code = _result_now(call.code())
            details = _result_now(call.details())
            trailing = _result_now(call.trailing_metadata())
        except Exception:  # noqa: BLE001 - a grpcio change must not break every call's ending
            log.warning("could not read a call's status as it ended", exc_info=True)
            return
        if not is_write_failure(code, details):
            self._own = grpc.aio.AioRpcError(code, None, trailing, details)
            self._arrived.set()

    async def own(self, observed: grpc.aio.AioRpcError) -> grpc.aio.AioRpcError:
        """The status the call ended with, given the one it was seen to end with: the call's
        own when `observed` is grpcio's made-up one (its code may then be OK)."""
        if not is_write_failure(observed.code(), observed.details()):
            return observed
        try:
            await asyncio.wait_for(self._arrived.wait(), OWN_STATUS_WAIT)
        except TimeoutError:
            log.warning("call ended with grpcio's %r and no status of its own within %.0f s",
                        WRITE_FAILURE_DETAILS, OWN_STATUS_WAIT)
            return observed
        assert self._own is not None
        return self._own

    async def own_of(self, call: grpc.aio.Call) -> grpc.aio.AioRpcError:
        """The status a finished call ended with, read from the call itself."""
        observed = grpc.aio.AioRpcError(await call.code(), None, await call.trailing_metadata(),
                                        await call.details())
        return await self.own(observed)
