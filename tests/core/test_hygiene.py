"""What clients see of the server: no paths, no raw exception text; an error id tying a failure to
the log line with the details; a crash of any kind ends the call and frees its slot, and so does
a cancel, whenever it comes.

The core runs in this process here, so that a real Whisper engine can be made to fail with an
arbitrary exception (what a native engine's torch error looks like) and its log captured.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re

import grpc
import pytest
from asr.v1 import asr_pb2, asr_pb2_grpc

from core_service.config import ServerConfig
from core_service.engines.whisper import WhisperStream
from core_service.server import build_registry
from core_service.servicer import RecognizerServicer
from tests.conftest import free_port

from .grpc_helpers import Call, audio_requests, config, held_open, recognize
from .test_errors import UTTERANCE_PCM, assert_still_serving

SECRET_DIR = "/srv/secret-models/paraformer"


@pytest.fixture(scope="module")
async def inproc_core(tmp_path_factory):
    empty_dir = tmp_path_factory.mktemp("speechbrain-model")
    saved = {k: os.environ.get(k) for k in ("ASR_FUNASR_MODEL_DIR", "ASR_SPEECHBRAIN_MODEL_DIR")}
    os.environ.update(ASR_FUNASR_MODEL_DIR=SECRET_DIR, ASR_SPEECHBRAIN_MODEL_DIR=str(empty_dir))
    cfg = ServerConfig(host="127.0.0.1", port=free_port(), max_sessions=1, final_share_budget=1000,
                       final_wait_budget=1000)
    registry = build_registry(cfg)
    server = grpc.aio.server()
    asr_pb2_grpc.add_RecognizerServiceServicer_to_server(RecognizerServicer(cfg, registry), server)
    server.add_insecure_port(f"{cfg.host}:{cfg.port}")
    await server.start()
    await registry.get().warm_up()
    yield f"{cfg.host}:{cfg.port}", str(empty_dir)
    await server.stop(None)
    for eng in registry.loaded():
        await eng.aclose()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


async def recognize_holding_open(address: str, requests) -> Call:
    """Send `requests`, keep the request stream open, and collect responses until the server ends the call."""
    call, done = Call(), asyncio.Event()

    async def gen():
        for req in requests:
            yield req
        await done.wait()

    async with grpc.aio.insecure_channel(address) as channel:
        rpc = asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(gen(), timeout=30)
        try:
            async for response in rpc:
                call.responses.append(response)
        except grpc.aio.AioRpcError as err:
            call.code, call.message = err.code(), err.details()
        done.set()
    return call


def assert_no_paths(text: str, *paths: str) -> None:
    for p in (SECRET_DIR, *paths):
        assert p not in text
    assert not re.search(r"(?<![\w.:/])/[\w.-]+/", text), text


async def test_list_engines_says_what_is_missing_without_directories(inproc_core):
    address, empty_dir = inproc_core
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await asr_pb2_grpc.RecognizerServiceStub(channel).ListEngines(asr_pb2.ListEnginesRequest())
    engines = {e.name: e for e in reply.engines}
    for name in ("funasr", "speechbrain"):
        assert not engines[name].available and engines[name].unavailable_reason
    assert_no_paths(str(reply), empty_dir)


async def test_an_unavailable_engine_error_carries_no_path(inproc_core):
    address, empty_dir = inproc_core
    for engine in ("funasr", "speechbrain"):
        call = await recognize(address, [config(engine=engine)])
        assert call.code == grpc.StatusCode.FAILED_PRECONDITION, call.message
        assert call.message
        assert_no_paths(call.message, empty_dir)


async def test_an_engine_exception_that_is_not_an_engine_error_ends_the_call_with_internal_and_an_error_id(
        inproc_core, monkeypatch, caplog):
    address, _ = inproc_core

    async def broken_accept(self, audio):
        raise RuntimeError("CUDA error: device-side assert in /opt/torch/lib/libtorch_cuda.so")

    monkeypatch.setattr(WhisperStream, "accept", broken_accept)
    with caplog.at_level(logging.ERROR, logger="core_service"):
        # the client stops writing after its audio (grpc/grpc#36066: an asyncio client still writing
        # when the server ends the call may see INTERNAL "Internal error from Core" instead)
        call = await recognize_holding_open(address, [config(), audio_requests(UTTERANCE_PCM)[0]])
    assert call.code == grpc.StatusCode.INTERNAL
    assert "CUDA" not in call.message and "/opt" not in call.message
    found = re.search(r"error id ([0-9a-f]{8})", call.message)
    assert found, call.message
    error_id = found.group(1)
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and "libtorch_cuda.so" in str(logged[0].exc_info[1])
    assert call.of("summary"), "the call ended properly, after its summary"
    monkeypatch.undo()
    await assert_still_serving(address)  # max-sessions is 1: the slot was freed


async def test_a_call_closed_while_its_response_is_being_sent_ends_its_session_at_once(caplog):
    # gRPC closes the servicer's response generator at its yield when the client cancels while
    # a response is being sent (the other moment, waiting for the next event, cancels the session
    # itself); the session must end there and then, not when the garbage collector finds it.
    cfg = ServerConfig(host="127.0.0.1", max_sessions=1, route_languages=False)
    registry = build_registry(cfg)
    servicer = RecognizerServicer(cfg, registry)
    hold = asyncio.Event()
    try:
        with caplog.at_level(logging.INFO, logger="core_service.session"):
            responses = servicer.Recognize(held_open(hold, config(language="en")), context=None)
            started = (await responses.__anext__()).session_started
            assert servicer.active == 1
            await responses.aclose()
        assert servicer.active == 0
        assert any(f"session '{started.session_id}' cancelled by the client" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        hold.set()
        for eng in registry.loaded():
            await eng.aclose()
