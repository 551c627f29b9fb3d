"""TLS material for the core (gRPC), the bridges (wss://) and their channel to a TLS core.

Every file is read at start-up, so a missing or unreadable one stops the process with a message
naming the flag and the file. `reload()` re-reads them (SIGHUP): new handshakes use the new
certificate, open connections keep theirs; a bad new file keeps the old material and says why.
"""
from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)


class TlsFileError(ValueError):
    """A certificate or key file cannot be used; the message names the flag and the file."""


def read_pem(path: str | Path, flag: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsFileError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None
    if b"-----BEGIN " not in data:
        raise TlsFileError(f"{flag} {path}: not a PEM file (no -----BEGIN line)")
    return data


def check_pair(cert: str, key: str, cert_flag: str = "--tls-cert", key_flag: str = "--tls-key") -> None:
    if bool(cert) != bool(key):
        raise TlsFileError(f"{cert_flag} and {key_flag} go together: give both or neither")


@dataclass(frozen=True)
class ServerFiles:
    cert: str
    key: str
    client_ca: str = ""  # when set, clients must present a certificate signed by it (mutual TLS)

    def _configuration(self):
        cert = read_pem(self.cert, "--tls-cert")
        pair = (read_pem(self.key, "--tls-key"), cert)
        roots = read_pem(self.client_ca, "--tls-client-ca") if self.client_ca else None
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=roots)


class GrpcServerTls:
    """Server credentials for grpc whose certificate is swapped on `reload()`."""

    def __init__(self, files: ServerFiles) -> None:
        self.files = files
        self._current = files._configuration()
        self._pending = None
        self._lock = threading.Lock()
        self.credentials = grpc.dynamic_ssl_server_credentials(
            self._current, self._fetch, require_client_authentication=bool(files.client_ca))

    def _fetch(self):  # called by gRPC on new handshakes; None = keep the current configuration
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def reload(self) -> bool:
        try:
            configuration = self.files._configuration()
        except TlsFileError as exc:
            log.error("TLS certificate not reloaded, the previous one stays in use: %s", exc)
            return False
        with self._lock:
            self._pending = configuration
        log.info("TLS certificate reloaded from %s", self.files.cert)
        return True


class ServerSslContext:
    """An ssl.SSLContext for a WebSocket server (wss://); `reload()` loads the new chain in place."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert, self.key = cert, key
        read_pem(cert, "--tls-cert")
        read_pem(key, "--tls-key")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            self.context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise TlsFileError(f"--tls-cert {cert} / --tls-key {key}: not a matching certificate and key ({exc})") from None

    def reload(self) -> bool:
        try:
            read_pem(self.cert, "--tls-cert")
            read_pem(self.key, "--tls-key")
            self.context.load_cert_chain(self.cert, self.key)
        except (TlsFileError, ssl.SSLError) as exc:
            log.error("TLS certificate not reloaded, the previous one stays in use: %s", exc)
            return False
        log.info("TLS certificate reloaded from %s", self.cert)
        return True


def channel_credentials(ca: str = "", cert: str = "", key: str = "", *, flags: tuple[str, str, str] = (
        "--ca", "--cert", "--key")) -> grpc.ChannelCredentials:
    """Client credentials: `ca` to trust (empty = the system's roots), cert+key for mutual TLS."""
    check_pair(cert, key, flags[1], flags[2])
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(ca, flags[0]) if ca else None,
        private_key=read_pem(key, flags[2]) if key else None,
        certificate_chain=read_pem(cert, flags[1]) if cert else None)
