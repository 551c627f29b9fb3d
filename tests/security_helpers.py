"""Helpers for the security tests: an API keys file, a CA and certificates made with
`cryptography`, and a core started with keys/TLS flags (waiting for health over TLS too)."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncio

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import ROOT, CoreProcess, free_port

# name -> secret; the keys file below gives each its limits.
WEB = "web-secret-0001"
SOLO = "solo-secret-0002"
GOOGLE_ONLY = "google-only-secret-0003"
SHORT = "short-secret-0004"
WHISPER_ONLY = "whisper-only-secret-0006"
LATER = "later-secret-0005"  # not in the file at first: added by a SIGHUP reload

KEYS_TOML = f"""\
# test keys: one file for the core and every bridge
[[key]]
name = "web"
secret = "{WEB}"

[[key]]
name = "solo"
secret = "{SOLO}"
max_sessions = 1

[[key]]
name = "google-only"
sha256 = "{hashlib.sha256(GOOGLE_ONLY.encode()).hexdigest()}"
engines = ["google"]

[[key]]
name = "short"
secret = "{SHORT}"
max_stream_seconds = 1.0

[[key]]
name = "whisper-only"
secret = "{WHISPER_ONLY}"
engines = ["whisper"]
"""


def bearer(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


# ---- certificates ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Pki:
    ca: Path  # CA certificate (PEM)
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _issue(ca_key, ca_name: x509.Name, subject: str, usage, san: bool) -> tuple[x509.Certificate, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(ca_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(directory: Path, label: str = "test") -> Pki:
    """A fresh CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"asr-gateway {label} CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .sign(ca_key, hashes.SHA256()))
    pki = Pki(directory / f"{label}-ca.pem", directory / f"{label}-server.pem", directory / f"{label}-server.key",
              directory / f"{label}-client.pem", directory / f"{label}-client.key")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, subject, usage, san in (
            (pki.server_cert, pki.server_key, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, True),
            (pki.client_cert, pki.client_key, "test-client", ExtendedKeyUsageOID.CLIENT_AUTH, False)):
        cert, key = _issue(ca_key, ca_name, subject, usage, san)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
    return pki


def client_credentials(pki: Pki, with_cert: bool = False) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.client_key.read_bytes() if with_cert else None,
        pki.client_cert.read_bytes() if with_cert else None)


# ---- a core with security flags -------------------------------------------------------------
def health_status(address: str, credentials: grpc.ChannelCredentials | None, timeout: float = 3.0) -> int:
    channel = (grpc.secure_channel(address, credentials) if credentials is not None
               else grpc.insecure_channel(address))
    with channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout).status


def start_secure_core(tmp_dir: Path, *args: str, credentials: grpc.ChannelCredentials | None = None,
                      host: str | None = "127.0.0.1", timeout: float = 120.0) -> CoreProcess:
    """`python -m core_service ARGS` on a free port, waiting for SERVING over `credentials`."""
    port = free_port()
    log_path = tmp_dir / f"core-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASR_FINAL_SHARE_BUDGET": "1000", "ASR_FINAL_WAIT_BUDGET": "1000"}
    hosts = ["--host", host] if host else []
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "core_service", *hosts, "--port", str(port), *args],
                                cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    core = CoreProcess(f"127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"core exited with {proc.returncode}:\n{core.log()[-4000:]}")
        try:
            if health_status(core.address, credentials) == health_pb2.HealthCheckResponse.SERVING:
                return core
        except grpc.RpcError:
            pass
        time.sleep(0.3)
    core.stop()
    raise RuntimeError(f"core not healthy after {timeout}s:\n{core.log()[-4000:]}")


async def wait_for_log(log, text: str, timeout: float = 10.0) -> None:
    """Wait until `log()` (a process's log so far) contains `text`."""
    deadline = time.monotonic() + timeout
    while text not in log():
        assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s:\n{log()[-2000:]}"
        await asyncio.sleep(0.1)


# ---- fixtures shared by the key tests (import them into a test module to use them) -----------
@pytest.fixture(scope="module")
def keys_file(tmp_path_factory) -> Path:
    """KEYS_TOML in a file; tests that rewrite it restore it."""
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    path.write_text(KEYS_TOML)
    return path


@pytest.fixture(scope="module")
def keyed_core(keys_file) -> CoreProcess:
    """A core that needs the keys of `keys_file`."""
    core = start_secure_core(keys_file.parent, "--api-keys", str(keys_file))
    yield core
    core.stop()
