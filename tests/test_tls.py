"""Real TLS: a CA and certificates made by the test (cryptography), a TLS core, a wss:// bridge
with a TLS channel to the core, the SDK and CLI with --ca, mutual TLS, and SIGHUP reload."""
from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys

import grpc
import numpy as np
import pytest
import websockets

from clients.audio import write_audio
from clients.sdk import RecognizerClient
from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16, wer
from tests.bridges.bridge_helpers import recv_all, start_bridge
from tests.conftest import ROOT, free_port
from tests.core.grpc_helpers import audio_requests, config, recognize
from tests.security_helpers import client_credentials, make_pki, start_secure_core, wait_for_log

TEXT = UTTERANCES[1]


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return np.concatenate([silence(0.3), speech(TEXT), silence(0.8)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_core(pki):
    core = start_secure_core(pki.ca.parent, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                             credentials=client_credentials(pki))
    yield core
    core.stop()


def trusting(ca) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    return context


async def nexa_over_wss(port: int, ca, audio: np.ndarray) -> str:
    async with websockets.connect(f"wss://localhost:{port}/v1/audio/stream", ssl=trusting(ca)) as ws:
        await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
        pcm = to_pcm16(audio)
        for i in range(0, len(pcm), 16000):
            await ws.send(pcm[i:i + 16000])
        await ws.send(json.dumps({"action": "stop"}))
        messages = await recv_all(ws)
    assert not [m for m in messages if m["type"] == "error"], messages
    return " ".join(m["text"] for m in messages if m["type"] == "final")


async def test_the_sdk_transcribes_over_tls_and_a_plaintext_client_is_refused(tls_core, pki, audio):
    async with RecognizerClient(tls_core.address, ca=pki.ca) as client:
        events = [e async for e in client.stream([to_pcm16(audio)])]
    text = " ".join(e.text for e in events if getattr(e, "is_final", False))
    assert wer(TEXT, text) <= 0.2, text
    plain = await recognize(tls_core.address, [config()], timeout=10)
    assert plain.code == grpc.StatusCode.UNAVAILABLE


def test_the_cli_transcribes_over_tls_with_ca(tls_core, pki, audio, tmp_path):
    wav = write_audio(tmp_path / "sentence.wav", audio)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "clients.cli", "transcribe", str(wav), "--server",
                           tls_core.address, "--ca", str(pki.ca)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert wer(TEXT, done.stdout) <= 0.2, done.stdout
    untrusted = subprocess.run([sys.executable, "-m", "clients.cli", "transcribe", str(wav), "--server",
                                tls_core.address, "--tls", "--timeout", "10"], cwd=ROOT, capture_output=True,
                               text=True, timeout=120, env=env)
    assert untrusted.returncode == 3, untrusted.stderr  # the system's CAs do not know the test CA


async def test_a_websocket_client_transcribes_over_wss_through_a_tls_core_channel(tls_core, pki, audio, tmp_path):
    bridge = start_bridge(tmp_path, "nexa", tls_core.address, "--tls-cert", str(pki.server_cert), "--tls-key",
                          str(pki.server_key), "--core-tls-ca", str(pki.ca))
    try:
        text = await nexa_over_wss(bridge.port, pki.ca, audio)
        assert wer(TEXT, text) <= 0.2, text
        with pytest.raises((websockets.exceptions.InvalidMessage, ConnectionError, EOFError, OSError)):
            async with websockets.connect(f"ws://127.0.0.1:{bridge.port}/v1/audio/stream", open_timeout=5):
                pass
        assert "listening on wss://" in bridge.log()
    finally:
        bridge.stop()


async def test_mutual_tls_refuses_a_client_without_a_certificate(pki, audio, tmp_path):
    core = start_secure_core(tmp_path, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                             "--tls-client-ca", str(pki.ca), credentials=client_credentials(pki, with_cert=True))
    try:
        anonymous = await recognize(core.address, [config()], timeout=10, credentials=client_credentials(pki))
        assert anonymous.code == grpc.StatusCode.UNAVAILABLE
        known = await recognize(core.address, [config()] + audio_requests(to_pcm16(audio)),
                                credentials=client_credentials(pki, with_cert=True))
        assert known.code == grpc.StatusCode.OK and wer(TEXT, known.transcript) <= 0.2, known.transcript
        bridge = start_bridge(tmp_path, "nexa", core.address, "--core-tls-ca", str(pki.ca),
                              "--core-tls-cert", str(pki.client_cert), "--core-tls-key", str(pki.client_key))
        try:
            async with websockets.connect(bridge.url("/v1/audio/stream")) as ws:
                await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
                await ws.send(to_pcm16(audio))
                await ws.send(json.dumps({"action": "stop"}))
                messages = await recv_all(ws)
            text = " ".join(m["text"] for m in messages if m["type"] == "final")
            assert wer(TEXT, text) <= 0.2, messages
        finally:
            bridge.stop()
    finally:
        core.stop()


async def test_certificates_are_reloaded_on_sighup(pki, tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    core = start_secure_core(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key),
                             credentials=client_credentials(pki))
    try:
        renewed = make_pki(tmp_path / "renewed", "renewed")
        assert (await recognize(core.address, [config()], timeout=10,
                                credentials=client_credentials(renewed))).code == grpc.StatusCode.UNAVAILABLE
        shutil.copy(renewed.server_cert, cert)
        shutil.copy(renewed.server_key, key)
        core.proc.send_signal(signal.SIGHUP)
        await wait_for_log(core.log, "TLS certificate reloaded")
        call = await recognize(core.address, [config()], timeout=10, credentials=client_credentials(renewed))
        assert call.code == grpc.StatusCode.OK, call.message
    finally:
        core.stop()


@pytest.mark.parametrize("program", ["core_service", "bridges.nexa"])
def test_a_missing_certificate_file_stops_start_up_with_a_clear_message(tmp_path, program):
    done = subprocess.run([sys.executable, "-m", program, "--port", str(free_port()), "--tls-cert",
                           str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "missing.key")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"--tls-cert {tmp_path / 'missing.pem'}: cannot read it" in done.stderr, done.stderr


async def test_a_bridges_wss_certificate_is_reloaded_on_sighup(tls_core, pki, tmp_path):
    cert, key = tmp_path / "web.pem", tmp_path / "web.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    bridge = start_bridge(tmp_path, "nexa", tls_core.address, "--tls-cert", str(cert), "--tls-key", str(key),
                          "--core-tls-ca", str(pki.ca))
    url = f"wss://localhost:{bridge.port}/v1/audio/stream"
    try:
        renewed = make_pki(tmp_path / "renewed", "renewed")
        with pytest.raises(ssl.SSLCertVerificationError):
            async with websockets.connect(url, ssl=trusting(renewed.ca), open_timeout=5):
                pass
        shutil.copy(renewed.server_cert, cert)
        shutil.copy(renewed.server_key, key)
        bridge.proc.send_signal(signal.SIGHUP)
        await wait_for_log(bridge.log, "TLS certificate reloaded")
        async with websockets.connect(url, ssl=trusting(renewed.ca), open_timeout=5) as ws:
            await ws.ping()
    finally:
        bridge.stop()
