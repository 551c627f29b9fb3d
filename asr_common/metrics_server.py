"""The Prometheus /metrics endpoint (`--metrics-port`) of the core and of every bridge.

It serves the registry it is given and defines no metric: each process exposes only the families
its own modules register (`core_service/metrics.py` in the core, `bridges/metrics.py` in a bridge).
"""
from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from asr_common.listen import LOOPBACK

log = logging.getLogger(__name__)


def serve_metrics(port: int, host: str, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve /metrics on a background thread; a port in use stops start-up with a clear message."""
    address = host or LOOPBACK
    try:
        start_http_server(port, addr=address, registry=registry)
    except OSError as exc:
        raise SystemExit(f"--metrics-port {port}: cannot listen on {address}:{port} ({exc.strerror or exc})")
    log.info("metrics at http://%s:%d/metrics", address, port)
