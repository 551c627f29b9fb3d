"""The gRPC transport (bridges/transports/grpc.py) through the real runtime and a real core:
a unary and a bidirectional streaming method served by generic handlers, API keys in the call's
metadata, endings as gRPC statuses (with RetryInfo where the client should retry), driven by the
transcribe test dialect with JFK's speech."""
from __future__ import annotations

import asyncio
import signal
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2

from clients.errors import from_rpc_error
from tests.security_helpers import client_credentials, make_pki
from transcribe_dialect import GRPC_SPEC, STREAM, TRANSCRIBE
from transport_helpers import (WEB, WRONG_KEY, assert_jfk, dialect_process, jfk_pcm, keys_path, refused_soon,
                               running_bridge, tls_flags)

CHUNK = 32000  # one second of 16 kHz PCM16 per message


def methods(channel: grpc.aio.Channel) -> tuple[grpc.aio.UnaryUnaryMultiCallable, grpc.aio.StreamStreamMultiCallable]:
    transcribe = channel.unary_unary(TRANSCRIBE, request_serializer=wrappers_pb2.BytesValue.SerializeToString,
                                     response_deserializer=wrappers_pb2.StringValue.FromString)
    stream = channel.stream_stream(STREAM, request_serializer=wrappers_pb2.BytesValue.SerializeToString,
                                   response_deserializer=wrappers_pb2.StringValue.FromString)
    return transcribe, stream


async def failure(call: Any) -> grpc.aio.AioRpcError:
    """The error a call ends with (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return failed.value


def chunks(pcm: bytes) -> list[wrappers_pb2.BytesValue]:
    return [wrappers_pb2.BytesValue(value=pcm[i:i + CHUNK]) for i in range(0, len(pcm), CHUNK)]


async def test_unary_and_streaming_calls_answer_with_the_transcript(core_address):
    async with running_bridge(GRPC_SPEC, core_address) as bridge, \
            grpc.aio.insecure_channel(f"127.0.0.1:{bridge.port}") as channel:
        transcribe, stream = methods(channel)
        answer = await transcribe(wrappers_pb2.BytesValue(value=jfk_pcm()), timeout=60)
        call = stream(iter(chunks(jfk_pcm())), timeout=60)
        results = [r.value async for r in call]
        assert await call.code() == grpc.StatusCode.OK
    assert_jfk(answer.value)
    assert len(results) >= 2 and results[-1] == " ".join(results[:-1]), results  # each final, then the transcript
    assert_jfk(results[-1])


async def test_a_wrong_api_key_in_the_metadata_is_unauthenticated(core_address, tmp_path):
    async with running_bridge(GRPC_SPEC, core_address, "--api-keys", str(keys_path(tmp_path))) as bridge, \
            grpc.aio.insecure_channel(f"127.0.0.1:{bridge.port}") as channel:
        transcribe, _ = methods(channel)
        request = wrappers_pb2.BytesValue(value=jfk_pcm())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await transcribe(request, metadata=(("authorization", f"Bearer {WRONG_KEY}"),), timeout=60)
        answer = await transcribe(request, metadata=(("x-api-key", WEB),), timeout=60)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED and "API key" in refused.value.details()
    assert_jfk(answer.value)


async def test_a_message_over_the_limit_is_resource_exhausted(core_address):
    async with running_bridge(GRPC_SPEC, core_address, "--max-message-bytes", "100000") as bridge, \
            grpc.aio.insecure_channel(f"127.0.0.1:{bridge.port}") as channel:
        transcribe, stream = methods(channel)
        refused = await failure(transcribe(wrappers_pb2.BytesValue(value=jfk_pcm()), timeout=60))
        call = stream(iter(chunks(jfk_pcm())), timeout=60)  # 32 kB messages fit
        results = [r.value async for r in call]
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
    assert_jfk(results[-1])


async def test_a_core_error_is_the_grpc_status_of_its_fault(core_address):
    async with running_bridge(GRPC_SPEC, core_address, "--engine", "no-such-engine") as bridge, \
            grpc.aio.insecure_channel(f"127.0.0.1:{bridge.port}") as channel:
        transcribe, _ = methods(channel)
        failed = await failure(transcribe(wrappers_pb2.BytesValue(value=jfk_pcm()), timeout=60))
    assert failed.code() == grpc.StatusCode.INVALID_ARGUMENT and "no-such-engine" in failed.details()


async def test_sigterm_finishes_the_open_call_with_retry_info_and_refuses_new_calls(core_address, tmp_path):
    requests: asyncio.Queue = asyncio.Queue(maxsize=64)

    async def audio():  # the client never half-closes: the drain ends the audio
        while (request := await requests.get()) is not None:
            yield request
    async with dialect_process(tmp_path, "grpc", core_address) as bridge:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{bridge.port}") as channel:
            transcribe, stream = methods(channel)
            for request in chunks(jfk_pcm()):
                requests.put_nowait(request)
            call = stream(audio(), timeout=120)
            results = [(await call.read()).value]
            bridge.proc.send_signal(signal.SIGTERM)

            async def refused() -> bool:
                try:
                    await transcribe(wrappers_pb2.BytesValue(value=b"\0\0"), timeout=10)
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.UNAVAILABLE
                return False
            await refused_soon(refused)
            with pytest.raises(grpc.aio.AioRpcError) as ended:  # every result, then the status
                while (response := await call.read()) is not grpc.aio.EOF:
                    results.append(response.value)
            requests.put_nowait(None)
        error = from_rpc_error(ended.value)
        assert error.code == grpc.StatusCode.UNAVAILABLE and error.retry_after, error  # shutting down: retry
        assert_jfk(results[-1])


async def test_tls_with_the_bridges_certificate(core_address, tmp_path):
    pki = make_pki(tmp_path)
    async with running_bridge(GRPC_SPEC, core_address, *tls_flags(pki)) as bridge, \
            grpc.aio.secure_channel(f"localhost:{bridge.port}", client_credentials(pki)) as channel:
        transcribe, _ = methods(channel)
        answer = await transcribe(wrappers_pb2.BytesValue(value=jfk_pcm()), timeout=60)
    assert_jfk(answer.value)


async def test_a_call_over_the_connection_cap_is_resource_exhausted_with_retry_info(core_address):
    async with running_bridge(GRPC_SPEC, core_address, "--max-connections", "1") as bridge, \
            grpc.aio.insecure_channel(f"127.0.0.1:{bridge.port}") as channel:
        transcribe, stream = methods(channel)
        holder = stream(timeout=60)  # an open call holds the one place
        await holder.write(chunks(jfk_pcm())[0])
        await asyncio.sleep(0.5)
        refused = await failure(transcribe(wrappers_pb2.BytesValue(value=b"\0\0"), timeout=10))
        holder.cancel()
    error = from_rpc_error(refused)
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.retry_after, error
    assert "limit of 1" in error.message
