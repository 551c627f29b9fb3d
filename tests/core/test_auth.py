"""API keys on the core (core_service/interceptors.py AuthInterceptor): a real core with a keys
file, real speech, plain gRPC clients sending the key as metadata."""
from __future__ import annotations

import asyncio
import signal

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2, asr_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2

from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16, wer
from tests.core.grpc_helpers import audio_requests, config, recognize
from tests.security_helpers import (GOOGLE_ONLY, KEYS_TOML, LATER, SHORT, SOLO, WEB, WHISPER_ONLY, bearer,
                                    health_status, keyed_core, keys_file, start_secure_core)

__all__ = ["keyed_core", "keys_file"]  # fixtures


@pytest.fixture(scope="module")
def sentence() -> bytes:
    return to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(0.6)]))


async def test_no_key_is_unauthenticated(keyed_core):
    call = await recognize(keyed_core.address, [config()])
    assert call.code == grpc.StatusCode.UNAUTHENTICATED and not call.responses
    assert call.detail(error_details_pb2.ErrorInfo).reason == "API_KEY_MISSING"
    assert "authorization: Bearer" in call.message


async def test_a_wrong_key_is_unauthenticated(keyed_core):
    call = await recognize(keyed_core.address, [config()], metadata=bearer("wrong-secret-9999"))
    assert call.code == grpc.StatusCode.UNAUTHENTICATED
    assert call.detail(error_details_pb2.ErrorInfo).reason == "API_KEY_INVALID"


async def test_list_engines_needs_a_key_and_health_does_not(keyed_core):
    async with grpc.aio.insecure_channel(keyed_core.address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListEngines(asr_pb2.ListEnginesRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = await stub.ListEngines(asr_pb2.ListEnginesRequest(), timeout=10, metadata=bearer(WEB))
        assert reply.default_engine == "whisper"
    assert health_status(keyed_core.address, None) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("metadata", [bearer(WEB), (("x-api-key", WEB),)], ids=["authorization", "x-api-key"])
async def test_a_valid_key_transcribes(keyed_core, sentence, metadata):
    call = await recognize(keyed_core.address, [config()] + audio_requests(sentence), metadata=metadata)
    assert call.code == grpc.StatusCode.OK, call.message
    assert wer(UTTERANCES[0], call.transcript) <= 0.2, call.transcript


async def test_an_engine_the_key_may_not_use_is_permission_denied_naming_the_field(keyed_core):
    call = await recognize(keyed_core.address, [config(engine="whisper")], metadata=bearer(GOOGLE_ONLY))
    assert call.code == grpc.StatusCode.PERMISSION_DENIED
    assert call.field_violations == ["config.engine"] and "google" in call.message
    call = await recognize(keyed_core.address, [config()], metadata=bearer(WHISPER_ONLY))  # default: whisper
    assert call.code == grpc.StatusCode.OK


async def test_a_preference_list_is_narrowed_to_the_keys_engines(keyed_core, sentence):
    call = await recognize(keyed_core.address, [config(engine="google,whisper")] + audio_requests(sentence),
                           metadata=bearer(WHISPER_ONLY))
    assert call.code == grpc.StatusCode.OK, call.message
    [started] = call.of("session_started")
    assert started.engine == "whisper" and started.resolved_config.engine in ("whisper", "")
    denied = await recognize(keyed_core.address, [config(engine="google")], metadata=bearer(WHISPER_ONLY))
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED and denied.field_violations == ["config.engine"]


async def test_over_the_keys_max_sessions_is_resource_exhausted_with_retry_info(keyed_core, sentence):
    # the first stream is paced at about real time, so it is open while the second one asks
    first = asyncio.create_task(recognize(keyed_core.address, [config()] + audio_requests(sentence), pace=0.08,
                                          metadata=bearer(SOLO)))
    await asyncio.sleep(1.0)
    second = await recognize(keyed_core.address, [config()], metadata=bearer(SOLO))
    other_key = await recognize(keyed_core.address, [config()], metadata=bearer(WEB))
    assert second.code == grpc.StatusCode.RESOURCE_EXHAUSTED, second.message
    assert second.detail(error_details_pb2.RetryInfo) is not None
    assert second.detail(error_details_pb2.ErrorInfo).reason == "KEY_MAX_SESSIONS"
    assert other_key.code == grpc.StatusCode.OK  # another key's limit is its own
    assert (await first).code == grpc.StatusCode.OK
    again = await recognize(keyed_core.address, [config()], metadata=bearer(SOLO))
    assert again.code == grpc.StatusCode.OK, "the slot is free again once the first stream ended"


async def test_past_the_keys_max_stream_seconds_results_then_out_of_range(keyed_core, sentence):
    call = await recognize(keyed_core.address, [config()] + audio_requests(sentence), metadata=bearer(SHORT))
    assert call.code == grpc.StatusCode.OUT_OF_RANGE, call.message
    assert call.detail(error_details_pb2.ErrorInfo).reason == "KEY_MAX_STREAM_SECONDS"
    [summary] = call.of("summary")  # the audio read before the limit was finished first
    assert 0.9 <= summary.audio_processed.ToTimedelta().total_seconds() <= 1.01


async def test_logs_name_the_key_never_the_secret(keyed_core):
    await recognize(keyed_core.address, [config()], metadata=bearer(WEB))
    await recognize(keyed_core.address, [config()], metadata=bearer("wrong-secret-9999"))
    log = keyed_core.log()
    assert "with key web" in log
    for secret in (WEB, SOLO, GOOGLE_ONLY, SHORT, WHISPER_ONLY, "wrong-secret-9999"):
        assert secret not in log


async def test_sighup_reload_adds_and_removes_a_key_while_another_keys_session_streams(keyed_core, keys_file):
    long_speech = to_pcm16(np.concatenate([silence(0.3), speech(" ".join(UTTERANCES)), silence(0.6)]))
    streaming = asyncio.create_task(recognize(keyed_core.address, [config()] + audio_requests(long_speech),
                                              pace=0.06, metadata=bearer(WEB)))
    try:
        assert (await recognize(keyed_core.address, [config()], metadata=bearer(LATER))).code == \
            grpc.StatusCode.UNAUTHENTICATED
        await asyncio.sleep(0.5)
        # remove "solo", add "later"
        text = KEYS_TOML.replace('name = "solo"', 'name = "later"').replace(SOLO, LATER)
        keys_file.write_text(text)
        keyed_core.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(1.0)
        assert not streaming.done(), "the streaming session must still be open across the reload"
        added = await recognize(keyed_core.address, [config()], metadata=bearer(LATER))
        removed = await recognize(keyed_core.address, [config()], metadata=bearer(SOLO))
        assert added.code == grpc.StatusCode.OK, added.message
        assert removed.code == grpc.StatusCode.UNAUTHENTICATED
        call = await streaming
        assert call.code == grpc.StatusCode.OK, call.message
        assert wer(" ".join(UTTERANCES), call.transcript) <= 0.2, call.transcript
        assert "added ['later'], removed ['solo']" in keyed_core.log()
    finally:
        keys_file.write_text(KEYS_TOML)
        keyed_core.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)


def test_without_keys_the_core_listens_on_loopback_only_and_says_so(tmp_path):
    core = start_secure_core(tmp_path, host=None)
    try:
        log = core.log()
        assert "no --api-keys: the core listens on 127.0.0.1 (loopback) only" in log
        assert "listening on 127.0.0.1:" in log
    finally:
        core.stop()
