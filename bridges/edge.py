"""A bridge's edge: its security and observability flags, read in one place.

API keys and `--allowed-origins` (bridges/auth.py), `wss://` (`--tls-cert/--tls-key`), TLS to
the core (`--core-tls-ca`, and `--core-tls-cert/--core-tls-key` for mutual TLS), metrics
(`--metrics-port`), the listening address (loopback only without keys unless `--host`), and
SIGHUP reload of keys and certificates.
"""
from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass

import grpc

from asr_common.api_keys import KeyRing, KeysFileError
from asr_common.listen import listen_host
from asr_common.logs import FORMATS
from asr_common.metrics_server import serve_metrics
from asr_common.tls import ServerSslContext, TlsFileError, channel_credentials, check_pair
from bridges.auth import UpgradeGuard, parse_origins

log = logging.getLogger("bridges.edge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    group = parser.add_argument_group("security and observability")
    group.add_argument("--api-keys", default=env("ASR_API_KEYS", ""), metavar="PATH",
                       help="TOML keys file (the core's format); the upgrade then needs a key: 401 without "
                            "(reloaded on SIGHUP; env ASR_API_KEYS)")
    group.add_argument("--allowed-origins", default=env("ASR_ALLOWED_ORIGINS", ""), metavar="ORIGINS",
                       help="comma-separated browser origins allowed to connect (https://app.example); "
                            "others get 403 (default: any; env ASR_ALLOWED_ORIGINS)")
    group.add_argument("--tls-cert", default=env("ASR_TLS_CERT", ""), metavar="PEM",
                       help="serve wss:// with this certificate chain (with --tls-key; reloaded on SIGHUP)")
    group.add_argument("--tls-key", default=env("ASR_TLS_KEY", ""), metavar="PEM", help="private key of --tls-cert")
    group.add_argument("--core-tls-ca", default=env("ASR_CORE_TLS_CA", ""), metavar="PEM",
                       help="connect to the core over TLS, trusting this CA")
    group.add_argument("--core-tls-cert", default=env("ASR_CORE_TLS_CERT", ""), metavar="PEM",
                       help="client certificate for a core that requires one (mutual TLS)")
    group.add_argument("--core-tls-key", default=env("ASR_CORE_TLS_KEY", ""), metavar="PEM",
                       help="private key of --core-tls-cert")
    group.add_argument("--metrics-port", type=int, default=int(env("ASR_METRICS_PORT", "0")), metavar="PORT",
                       help="serve Prometheus /metrics on this port (0 = off)")
    group.add_argument("--log-format", default=env("ASR_LOG_FORMAT", "text"), choices=FORMATS,
                       help="text, or json: one JSON object per line")


@dataclass
class BridgeEdge:
    keys: KeyRing
    guard: UpgradeGuard
    ssl: ServerSslContext | None
    core_credentials: grpc.ChannelCredentials | None
    host: str

    @classmethod
    def from_options(cls, dialect: str, options: argparse.Namespace) -> "BridgeEdge":
        """Read keys and certificates; anything unusable stops start-up with a clear message."""
        try:
            keys = KeyRing.load(options.api_keys)
            check_pair(options.tls_cert, options.tls_key)
            ssl = ServerSslContext(options.tls_cert, options.tls_key) if options.tls_cert else None
            if ssl is not None:  # gRPC takes PEM files, not a context (bridges/transports/grpc.py TlsFiles)
                ssl.context.pem_files = (options.tls_cert, options.tls_key)
            credentials = _core_credentials(options)
        except (KeysFileError, TlsFileError) as exc:
            raise SystemExit(f"cannot start: {exc}") from None
        if keys.enabled:
            log.info("API keys: %d key(s) from %s", len(keys.keys), options.api_keys)
        host = listen_host(options.host, keys.enabled, f"the {dialect} bridge")
        return cls(keys, UpgradeGuard(dialect, keys, parse_origins(options.allowed_origins)), ssl, credentials, host)

    def start_metrics(self, port: int) -> None:
        if port:
            serve_metrics(port, self.host)

    # URL schemes of each transport, without and with TLS (the start-up line names the URL).
    SCHEMES = {"websocket": ("ws", "wss"), "http": ("http", "https"), "tcp": ("tcp", "tcp+tls"),
               "grpc": ("grpc", "grpcs")}

    def scheme(self, transport: str = "websocket") -> str:
        return self.SCHEMES[transport][self.ssl is not None]

    def reload(self, options: argparse.Namespace) -> grpc.ChannelCredentials | None:
        """SIGHUP: re-read keys and certificates. Returns new core credentials (None if unchanged)."""
        log.info("SIGHUP: reloading API keys and certificates")
        self.keys.reload()
        if self.ssl is not None:
            self.ssl.reload()
        if self.core_credentials is None:
            return None
        try:
            self.core_credentials = _core_credentials(options)
        except TlsFileError as exc:
            log.error("core TLS files not reloaded, the previous ones stay in use: %s", exc)
            return None
        return self.core_credentials


def _core_credentials(options: argparse.Namespace) -> grpc.ChannelCredentials | None:
    if not (options.core_tls_ca or options.core_tls_cert):
        return None
    return channel_credentials(options.core_tls_ca, options.core_tls_cert, options.core_tls_key,
                               flags=("--core-tls-ca", "--core-tls-cert", "--core-tls-key"))
