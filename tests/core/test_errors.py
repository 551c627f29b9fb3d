"""Every documented error returns its status code with google.rpc details, and the server keeps serving."""
from __future__ import annotations

import asyncio
import contextlib

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2, asr_pb2_grpc
from google.rpc import error_details_pb2

from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16, wer
from tests.conftest import start_core

from .grpc_helpers import audio_requests, config, held_open, recognize, recognize_sync

UTTERANCE_PCM = to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(1.0)]))


async def assert_still_serving(address: str) -> None:
    call = await recognize(address, [config(), *audio_requests(UTTERANCE_PCM)])
    assert call.code == grpc.StatusCode.OK
    assert wer(UTTERANCES[0], call.transcript) <= 0.2


@pytest.mark.parametrize("requests,field", [
    ([asr_pb2.RecognizeRequest(audio=b"\x00\x00" * 100)], "config"),
    ([config(), config()], "config"),
    ([config(), asr_pb2.RecognizeRequest(audio=b"\x00\x00\x00")], "audio"),
    ([config(encoding=asr_pb2.AUDIO_ENCODING_FLOAT32), asr_pb2.RecognizeRequest(audio=b"\x00" * 6)], "audio"),
    ([config(sample_rate_hertz=4000)], "config.sample_rate_hertz"),
    ([config(audio_channel_count=9)], "config.audio_channel_count"),
    ([config(language="not a language!")], "config.language"),
    ([config(language="xx-YY")], "config.language"),
    ([config(engine="no-such-engine")], "config.engine"),
    ([config(model="huge-v9")], "config.model"),
    ([config(model="tiny.en", language="ar-EG")], "config.model"),
    ([config(vad=asr_pb2.VadConfig(threshold=1.5))], "config.vad.threshold"),
    ([config(encoding=42)], "config.encoding"),
    ([config(session_id="a" * 129)], "config.session_id"),
    ([config(session_id="bad id\n\x1b[31m")], "config.session_id"),
    ([config(), asr_pb2.RecognizeRequest()], "request"),
    ([], "config"),
], ids=["audio-before-config", "config-twice", "odd-bytes-linear16", "odd-bytes-float32", "low-rate",
        "channels", "malformed-language", "unknown-language", "unknown-engine", "unknown-model",
        "english-model-arabic", "vad-threshold", "encoding", "long-session-id", "session-id-charset",
        "empty-request", "no-config"])
async def test_bad_requests_get_invalid_argument_with_the_field(core_address, requests, field):
    call = await recognize(core_address, requests)
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT, (call.code, call.message)
    assert field in call.field_violations, call.details
    assert call.message  # says what to do
    await assert_still_serving(core_address)


async def test_oversized_audio_message_is_rejected_and_earlier_audio_is_still_transcribed(core_address):
    huge = asr_pb2.RecognizeRequest(audio=b"\x00\x00" * ((1 << 20) // 2 + 1))
    call = await recognize(core_address, [config(), *audio_requests(UTTERANCE_PCM), huge])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "1048576-byte limit" in call.message
    # no audio already accepted is lost: its final arrived before the error
    assert wer(UTTERANCES[0], call.transcript) <= 0.2


async def test_odd_byte_count_after_speech_keeps_the_accepted_speech(core_address):
    call = await recognize(core_address, [config(), *audio_requests(UTTERANCE_PCM), asr_pb2.RecognizeRequest(audio=b"\x01")])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT
    assert wer(UTTERANCES[0], call.transcript) <= 0.2
    assert call.responses[-1].WhichOneof("response") == "summary"


async def test_unavailable_engine_says_what_is_missing(core_address):
    call = await recognize(core_address, [config(engine="google")])
    if call.code == grpc.StatusCode.OK:
        pytest.skip("google engine is configured on this machine")
    assert call.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "google" in call.message.lower()
    info = call.detail(error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "ENGINE_UNAVAILABLE"
    await assert_still_serving(core_address)


@pytest.fixture(scope="module")
def small_core(tmp_path_factory):
    core = start_core(tmp_path_factory.mktemp("small"), "--max-sessions", "1", "--max-stream-seconds", "6")
    yield core
    core.stop()


async def test_max_sessions_gives_resource_exhausted_with_retry_delay(small_core):
    address = small_core.address
    async with grpc.aio.insecure_channel(address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        hold = asyncio.Event()
        first = stub.Recognize(held_open(hold, config()))
        started = await first.read()
        assert started.WhichOneof("response") == "session_started"
        call = await recognize(address, [config()])
        hold.set()
        while await first.read() is not grpc.aio.EOF:
            pass
    assert call.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = call.detail(error_details_pb2.RetryInfo)
    assert retry is not None and retry.retry_delay.seconds > 0
    await assert_still_serving(address)


async def test_stream_past_max_duration_gets_out_of_range(small_core):
    pcm = to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(1.0), silence(6.0)]))
    call = await recognize(small_core.address, [config(), *audio_requests(pcm)])
    assert call.code == grpc.StatusCode.OUT_OF_RANGE
    assert "6 s audio limit" in call.message
    assert wer(UTTERANCES[0], call.transcript) <= 0.2  # what fit in the limit was transcribed
    await assert_still_serving(small_core.address)


async def test_a_stalled_client_does_not_stall_other_sessions(core_address):
    """One client sends audio and never reads; another completes normally meanwhile."""
    async with grpc.aio.insecure_channel(core_address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        stop = asyncio.Event()

        async def stalled():
            yield config(interim_results=True)
            for req in audio_requests(to_pcm16(np.concatenate([speech(UTTERANCES[1])] * 4))):
                yield req
            await stop.wait()

        stuck = stub.Recognize(stalled())
        await stuck.read()  # session started; we never read again
        await assert_still_serving(core_address)
        stuck.cancel()
        stop.set()


async def test_cancelled_call_releases_its_session_and_says_so_in_the_log(small_core):
    async with grpc.aio.insecure_channel(small_core.address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)

        async def forever():
            yield config()
            await asyncio.sleep(3600)

        call = stub.Recognize(forever())
        started = await call.read()
        call.cancel()
    await asyncio.sleep(0.5)
    await assert_still_serving(small_core.address)  # max-sessions is 1: the slot was freed
    assert f"session '{started.session_started.session_id}' cancelled by the client" in small_core.log()


@pytest.fixture(scope="module")
def full_core(tmp_path_factory):
    """A core whose real-time capacity is full as soon as two real-time streams are open (at a
    budget this small, no stream's finals fit, measured or assumed: core_service/admission.py)."""
    core = start_core(tmp_path_factory.mktemp("full"), "--final-share-budget", "0.0001", "--probation-seconds", "1")
    yield core
    core.stop()


@contextlib.asynccontextmanager
async def realtime_load(address: str):
    """Two real-time streams decode finals, then two more hold their slots (min_streams are always admitted)."""
    speech_requests = [config(), *audio_requests(UTTERANCE_PCM)]  # 100 ms chunks, sent in real time
    first, second = await asyncio.gather(recognize(address, speech_requests, pace=0.1),
                                         recognize(address, speech_requests, pace=0.1))
    assert first.finals and second.finals
    async with grpc.aio.insecure_channel(address) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        hold = asyncio.Event()
        held = [stub.Recognize(held_open(hold, config())) for _ in range(2)]
        for call in held:
            assert (await call.read()).WhichOneof("response") == "session_started"
        yield
        hold.set()
        for call in held:
            while await call.read() is not grpc.aio.EOF:
                pass


async def test_admission_refuses_a_realtime_stream_when_measured_final_load_is_over_budget(full_core):
    """With a tiny budget, beside two real-time streams the core refuses a third real-time stream:
    it starts as an upload and is ended once its pace shows it is real-time."""
    async with realtime_load(full_core.address):
        refused = await asyncio.to_thread(recognize_sync, full_core.address,
                                          [config(), *audio_requests(UTTERANCE_PCM)], 0.1)
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.message
    assert refused.detail(error_details_pb2.ErrorInfo).reason == "AT_CAPACITY"
    assert refused.detail(error_details_pb2.RetryInfo).retry_delay.seconds >= 1
    assert "measured capacity" in refused.message


async def test_an_upload_is_admitted_when_realtime_capacity_is_full(full_core):
    async with realtime_load(full_core.address):
        upload = await recognize(full_core.address, [config(), *audio_requests(UTTERANCE_PCM)])
    assert upload.code == grpc.StatusCode.OK, upload.message
    assert wer(UTTERANCES[0], upload.transcript) <= 0.2
