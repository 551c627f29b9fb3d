"""SIGTERM: NOT_SERVING, new streams refused, open streams finished with all their finals, then UNAVAILABLE."""
from __future__ import annotations

import asyncio
import signal

import grpc
import numpy as np
from asr.v1 import asr_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from tests.audio_fixtures import SAMPLE_RATE, UTTERANCES, silence, speech, to_pcm16, wer
from tests.conftest import start_core

from .grpc_helpers import _unpack, audio_requests, config, recognize

GRACE = 3.0


async def test_sigterm_mid_stream_delivers_finals_of_all_accepted_audio_and_a_summary_then_unavailable(tmp_path):
    core = start_core(tmp_path, "--shutdown-grace", str(GRACE))
    try:
        # the last utterance has no trailing silence: only finishing the stream can produce its final
        audio = np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(1.0), speech(UTTERANCES[1]),
                                silence(1.0), speech(UTTERANCES[2])])
        sent = asyncio.Event()
        hold = asyncio.Event()

        async def open_stream():
            yield config()
            for req in audio_requests(to_pcm16(audio)):
                yield req
            sent.set()
            await hold.wait()  # never half-closes: the server must end the call

        responses = []
        async with grpc.aio.insecure_channel(core.address) as channel:
            call = asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(open_stream(), timeout=120)
            assert (await call.read()).WhichOneof("response") == "session_started"
            await sent.wait()
            core.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
            refused = await recognize(core.address, [config()])
            try:
                while (response := await call.read()) is not grpc.aio.EOF:
                    responses.append(response)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as err:
                code, message, details = err.code(), err.details(), _unpack(rpc_status.from_call(err))
            hold.set()
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert refused.code == grpc.StatusCode.UNAVAILABLE
        assert code == grpc.StatusCode.UNAVAILABLE
        assert message == "server shutting down, reconnect"
        assert any(isinstance(d, error_details_pb2.RetryInfo) for d in details)
        kinds = [r.WhichOneof("response") for r in responses]
        assert kinds[-1] == "summary"
        finals = [r.result.text for r in responses if r.WhichOneof("response") == "result" and r.result.is_final]
        assert len(finals) == 3
        assert wer(" ".join(UTTERANCES), " ".join(finals)) <= 0.2
        summary = responses[-1].summary
        processed = summary.audio_processed.seconds + summary.audio_processed.nanos / 1e9
        assert abs(processed - len(audio) / SAMPLE_RATE) < 0.01  # every byte sent was accepted
        assert core.proc.wait(timeout=30) == 0
        assert "grace over: finishing 1 open streams" in core.log()
    finally:
        core.stop()
