"""A call the core ends while the client is still writing reports the core's own status.

grpcio's asyncio client may replace that status with INTERNAL "Internal error from Core" when a
write fails as the call ends (grpc/grpc#36066; clients/call_status.py). Measured before the fix:
85 of 200 such calls read as INTERNAL. Each test ends many calls this way against the real core,
which refuses an audio message that is not a whole number of frames while more audio is queued
behind it.
"""
from __future__ import annotations

import asyncio

from asr.v1 import asr_pb2
from bridges.core_client import CoreDone, CoreFailed, CorePool, CoreStream
from clients.errors import RecognizerError
from clients.sdk import RecognizerClient, StreamConfig

CALLS = 60
QUEUED_CHUNKS = 30
CHUNK = b"\0" * 3200  # 100 ms of 16 kHz LINEAR16
BROKEN_CHUNK = b"\0" * 3201  # not a whole number of 2-byte frames: the core ends the call


def streaming_config() -> asr_pb2.StreamingConfig:
    return asr_pb2.StreamingConfig(encoding=asr_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hertz=16000,
                                   audio_channel_count=1, language="en-US", session_id="status-race")


async def bridge_call_ending(pool: CorePool) -> CoreFailed | CoreDone:
    events: asyncio.Queue = asyncio.Queue()
    stream = CoreStream(pool, streaming_config(), events)
    stream.send(asr_pb2.RecognizeRequest(audio=BROKEN_CHUNK))
    for _ in range(QUEUED_CHUNKS):
        stream.send(asr_pb2.RecognizeRequest(audio=CHUNK))
    try:
        while not isinstance(event := await asyncio.wait_for(events.get(), 30), (CoreFailed, CoreDone)):
            pass
        return event
    finally:
        await stream.cancel()


async def test_a_bridge_reports_the_cores_own_status_when_the_core_ends_a_call_it_is_writing_to(core_address):
    pool = CorePool(core_address)
    try:
        endings = [await bridge_call_ending(pool) for _ in range(CALLS)]
    finally:
        await pool.close()
    codes = [e.error.code.name if isinstance(e, CoreFailed) else "OK" for e in endings]
    assert codes == ["INVALID_ARGUMENT"] * CALLS, codes
    assert all("whole number" in e.error.message for e in endings if isinstance(e, CoreFailed))


async def sdk_call_ending(client: RecognizerClient) -> RecognizerError | None:
    chunks = [BROKEN_CHUNK] + [CHUNK] * QUEUED_CHUNKS
    try:
        async for _ in client.stream(chunks, StreamConfig(language="en-US")):
            pass
    except RecognizerError as exc:
        return exc
    return None


async def test_the_sdk_reports_the_cores_own_status_when_the_core_ends_a_call_it_is_writing_to(core_address):
    async with RecognizerClient(core_address) as client:
        errors = [await sdk_call_ending(client) for _ in range(CALLS)]
    codes = [e.code.name if e is not None else "OK" for e in errors]
    assert codes == ["INVALID_ARGUMENT"] * CALLS, codes
