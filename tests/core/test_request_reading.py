"""How the core reads a stream's requests (core_service/session.py `next_request`)."""
from __future__ import annotations

import asyncio
import gc

import grpc
import pytest

from core_service.errors import ApiError
from core_service.session import next_request


async def _no_requests():
    return
    yield  # an async generator that ends at once, as a client that half-closes first


async def test_a_stream_that_ends_while_its_call_is_cancelled_logs_no_unretrieved_exception():
    """The request stream ending and the call being cancelled in the same turn of the loop
    (a client that half-closes and hangs up) leave no "Task exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    reports: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    try:
        reader = asyncio.ensure_future(next_request(_no_requests(), 10.0, asyncio.Event(),
                                                    ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, "late")))
        for _ in range(3):  # the read finishes: StopAsyncIteration is stored in its task
            await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        del reader
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert [c.get("message") for c in reports] == []
