"""Plain gRPC streaming for core tests: close to the wire, no SDK in between."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class Call:
    responses: list[asr_pb2.RecognizeResponse] = field(default_factory=list)
    code: grpc.StatusCode = grpc.StatusCode.OK
    message: str = ""
    details: list = field(default_factory=list)

    def of(self, kind: str) -> list:
        return [getattr(r, kind) for r in self.responses if r.WhichOneof("response") == kind]

    @property
    def results(self) -> list[asr_pb2.RecognitionResult]:
        return self.of("result")

    @property
    def finals(self) -> list[asr_pb2.RecognitionResult]:
        return [r for r in self.results if r.is_final]

    @property
    def transcript(self) -> str:
        return " ".join(r.text for r in self.finals)

    def detail(self, cls):
        return next((d for d in self.details if isinstance(d, cls)), None)

    @property
    def field_violations(self) -> list[str]:
        bad = self.detail(error_details_pb2.BadRequest)
        return [v.field for v in bad.field_violations] if bad else []


def _unpack(status) -> list:
    out = []
    for any_msg in status.details:
        for cls in (error_details_pb2.BadRequest, error_details_pb2.RetryInfo, error_details_pb2.ErrorInfo):
            if any_msg.Is(cls.DESCRIPTOR):
                msg = cls()
                any_msg.Unpack(msg)
                out.append(msg)
    return out


def config(**kw) -> asr_pb2.RecognizeRequest:
    return asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(**kw))


async def held_open(hold: asyncio.Event, *requests: asr_pb2.RecognizeRequest):
    """A request stream that sends `requests` (maybe none), then stays open until `hold` is set."""
    for req in requests:
        yield req
    await hold.wait()


def audio_requests(pcm: bytes, chunk: int = 3200) -> list[asr_pb2.RecognizeRequest]:
    return [asr_pb2.RecognizeRequest(audio=pcm[i:i + chunk]) for i in range(0, len(pcm), chunk)]


async def recognize(address: str, requests, pace: float = 0.0, timeout: float = 120.0, *,
                    metadata: tuple[tuple[str, str], ...] | None = None,
                    credentials: grpc.ChannelCredentials | None = None) -> Call:
    """Send `requests` (sleeping `pace` s between them) and collect every response and the status;
    with `metadata` (e.g. an API key) and over TLS with `credentials`."""
    call = Call()

    async def gen():
        for req in requests:
            yield req
            if pace:
                await asyncio.sleep(pace)

    channel = (grpc.aio.secure_channel(address, credentials) if credentials is not None
               else grpc.aio.insecure_channel(address))
    async with channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        rpc = stub.Recognize(gen(), timeout=timeout, metadata=metadata)
        try:
            async for response in rpc:
                call.responses.append(response)
        except grpc.aio.AioRpcError as err:
            call.code, call.message = err.code(), err.details()
            status = rpc_status.from_call(err)
            if status is not None:
                call.details = _unpack(status)
    return call


def recognize_sync(address: str, requests, pace: float = 0.0, timeout: float = 120.0) -> Call:
    """`recognize` with grpc's sync client, which reports the server's status even when the server
    ends the call while the client is still writing (asyncio clients may not: grpc/grpc#36066).
    Run it in a thread from async tests."""
    import time

    call = Call()

    def gen():
        for req in requests:
            yield req
            if pace:
                time.sleep(pace)

    with grpc.insecure_channel(address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        try:
            for response in stub.Recognize(gen(), timeout=timeout):
                call.responses.append(response)
        except grpc.RpcError as err:
            call.code, call.message = err.code(), err.details()
            status = rpc_status.from_call(err)
            if status is not None:
                call.details = _unpack(status)
    return call
