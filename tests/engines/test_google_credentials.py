"""Google engine, its credentials: where Application Default Credentials come from (a key
file, gcloud's file, the GCE/GKE/Cloud Run metadata server, here a fake one on loopback), and
what the engine says when there are none."""
from __future__ import annotations

import asyncio

import grpc
from asr.v1 import asr_pb2

from tests.conftest import start_core
from tests.engines.engine_helpers import needs

pytestmark = needs("google.cloud.speech_v1", "google")


def no_adc(monkeypatch, tmp_path) -> None:
    """No key file, no gcloud file, and a metadata server that refuses connections at once."""
    for var in ("ASR_GOOGLE_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_DETECT_RETRIES", "1")


def described(engine):
    engine._credentials.future.result(timeout=30)  # the lookup thread is done
    return engine.describe()


def test_describe_without_credentials_says_what_to_do(monkeypatch, tmp_path):
    from core_service.engines.google import GoogleEngine

    no_adc(monkeypatch, tmp_path)
    desc = described(GoogleEngine())
    assert not desc.available
    assert "GOOGLE_APPLICATION_CREDENTIALS" in desc.unavailable_reason and "metadata" in desc.unavailable_reason
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    desc = described(GoogleEngine())
    assert not desc.available and "missing.json" in desc.unavailable_reason
    assert GoogleEngine(endpoint="127.0.0.1:1").describe().available


class FakeMetadata:
    """The GCE/GKE/Cloud Run metadata server, as google-auth talks to it (HTTP, Metadata-Flavor)."""

    def __init__(self):
        import http.server
        import json
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                if self.headers.get("Metadata-Flavor") != "Google":
                    self.send_response(403)
                    self.end_headers()
                    return
                if path.endswith("/token"):
                    body = json.dumps({"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"})
                elif path.endswith("/project/project-id"):
                    body = "demo-project"
                elif path.endswith("universe-domain"):
                    body = "googleapis.com"
                elif "service-accounts/default" in path:
                    body = json.dumps({"email": "asr@demo-project.iam.gserviceaccount.com", "aliases": ["default"],
                                       "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})
                else:
                    body = ""
                data = body.encode()
                self.send_response(200)
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


async def test_list_engines_names_metadata_server_credentials(tmp_path):
    """On GCE, GKE or Cloud Run there is no key file: Application Default Credentials come from
    the metadata server. A core started with only a (fake) metadata server offers Google."""
    from asr.v1 import asr_pb2_grpc

    metadata = FakeMetadata()
    env = {"GCE_METADATA_HOST": metadata.address, "GCE_METADATA_IP": metadata.address,
           "CLOUDSDK_CONFIG": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": "", "ASR_GOOGLE_ENDPOINT": ""}
    core = start_core(tmp_path, env=env)  # an empty variable counts as unset, for google-auth too
    try:
        async with grpc.aio.insecure_channel(core.address) as channel:
            stub = asr_pb2_grpc.RecognizerServiceStub(channel)
            for _ in range(50):  # the lookup runs in the background; ListEngines never waits for it
                reply = await stub.ListEngines(asr_pb2.ListEnginesRequest())
                info = next(e for e in reply.engines if e.name == "google")
                if "looking for" not in info.unavailable_reason:
                    break
                await asyncio.sleep(0.2)
    finally:
        core.stop()
        metadata.stop()
    assert info.available, info.unavailable_reason
    source = info.models[0].source
    assert "metadata server" in source and "demo-project" in source, source


def test_metadata_server_credentials_give_a_token(monkeypatch, tmp_path):
    from google.auth.compute_engine import _metadata
    from google.auth.transport.requests import Request

    from core_service.engines.google_credentials import find_credentials

    metadata = FakeMetadata()
    no_adc(monkeypatch, tmp_path)
    monkeypatch.setenv("GCE_METADATA_IP", metadata.address)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", metadata.address)  # read at import
    try:
        found = find_credentials()
        assert found.credentials is not None, found.reason
        found.credentials.refresh(Request())
    finally:
        metadata.stop()
    assert found.credentials.token == "fake-token" and "metadata server" in found.source
