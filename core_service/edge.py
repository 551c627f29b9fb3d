"""The core's edge: API keys, TLS, the listening address, metrics and SIGHUP reload, built from
`ServerConfig` in one place so `server.serve` only calls `CoreEdge.from_config`, `add_port`,
`interceptors` and `reload`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from asr_common.api_keys import KeyRing, KeysFileError
from asr_common.listen import listen_host
from asr_common.metrics_server import serve_metrics
from asr_common.tls import GrpcServerTls, ServerFiles, TlsFileError, check_pair

from .config import ServerConfig
from .interceptors import AuthInterceptor, MetricsInterceptor

log = logging.getLogger(__name__)


@dataclass
class CoreEdge:
    keys: KeyRing
    tls: GrpcServerTls | None
    host: str
    interceptors: list[grpc.aio.ServerInterceptor]

    @classmethod
    def from_config(cls, config: ServerConfig, canonical: Callable[[str], str], default_engine: str) -> "CoreEdge":
        """Read the keys and certificates; anything unusable stops start-up with a clear message."""
        try:
            keys = KeyRing.load(config.api_keys)
            check_pair(config.tls_cert, config.tls_key)
            if config.tls_client_ca and not config.tls_cert:
                raise TlsFileError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
            tls = (GrpcServerTls(ServerFiles(config.tls_cert, config.tls_key, config.tls_client_ca))
                   if config.tls_cert else None)
        except (KeysFileError, TlsFileError) as exc:
            raise SystemExit(f"cannot start: {exc}") from None
        if keys.enabled:
            log.info("API keys: %d key(s) from %s (%s)", len(keys.keys), config.api_keys,
                     ", ".join(k.name for k in keys.keys))
        host = listen_host(config.host, keys.enabled, "the core")
        # Metrics outermost, so calls the auth interceptor refuses are counted too.
        interceptors = [MetricsInterceptor(), AuthInterceptor(keys, canonical, default_engine)]
        if config.metrics_port:
            serve_metrics(config.metrics_port, host)
        return cls(keys, tls, host, interceptors)

    def add_port(self, server: grpc.aio.Server, address: str) -> int:
        if self.tls is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, self.tls.credentials)

    @property
    def scheme(self) -> str:
        if self.tls is None:
            return "plaintext"
        return "TLS, client certificates required" if self.tls.files.client_ca else "TLS"

    def reload(self) -> None:
        """SIGHUP: re-read the keys file and the certificates; open streams are not touched."""
        log.info("SIGHUP: reloading API keys and certificates")
        self.keys.reload()
        if self.tls is not None:
            self.tls.reload()
