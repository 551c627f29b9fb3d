"""Health, reflection and ListEngines answer as grpcurl expects."""
from __future__ import annotations

import ctranslate2
import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def test_health_reports_serving(core_address):
    with grpc.insecure_channel(core_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "asr.v1.RecognizerService"):
            assert stub.Check(health_pb2.HealthCheckRequest(service=service)).status == \
                health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_and_describes_the_service(core_address):
    with grpc.insecure_channel(core_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        reqs = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="asr.v1.RecognizerService")]
        answers = list(stub.ServerReflectionInfo(iter(reqs)))
    services = {s.name for s in answers[0].list_services_response.service}
    assert {"asr.v1.RecognizerService", "grpc.health.v1.Health"} <= services
    from google.protobuf import descriptor_pb2
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in answers[1].file_descriptor_response.file_descriptor_proto]
    methods = {m.name for f in files for s in f.service for m in s.method}
    assert {"Recognize", "ListEngines"} <= methods


def test_list_engines_reports_all_families_truthfully(core_address):
    with grpc.insecure_channel(core_address) as channel:
        reply = asr_pb2_grpc.RecognizerServiceStub(channel).ListEngines(asr_pb2.ListEnginesRequest())
    engines = {e.name: e for e in reply.engines}
    assert set(engines) >= {"whisper", "google", "funasr", "speechbrain"}
    assert reply.default_engine == "whisper"
    whisper = engines["whisper"]
    assert whisper.available and whisper.default_model == "tiny.en"
    assert {m.name for m in whisper.models} == {"tiny.en", "base"}
    assert whisper.capabilities.translate and whisper.capabilities.word_time_offsets
    # which device serves: the CPU on this GPU-less machine under the default --device auto
    # (tests/core/test_whisper_device.py); a remote engine runs nowhere here
    assert whisper.device == ("cuda:0" if ctranslate2.get_cuda_device_count() else "cpu")
    assert engines["funasr"].device == engines["speechbrain"].device == "cpu" and engines["google"].device == ""
    for e in engines.values():
        assert e.available or e.unavailable_reason


def test_help_lists_every_flag():
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, "-m", "core_service", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--route-languages" in proc.stdout and "--final-beam-size" in proc.stdout
