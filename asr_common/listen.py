"""The listening address of a server (the core or a bridge) from `--host` and whether API keys are on."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"


def listen_host(host: str, keys_enabled: bool, what: str) -> str:
    """--host if given; else every interface with API keys, loopback only without (and say so)."""
    if host:
        if not keys_enabled and host not in (LOOPBACK, "localhost", "::1"):
            log.warning("%s listens on %s with no API keys: anyone who reaches it can use it", what, host)
        return host
    if keys_enabled:
        return ALL_INTERFACES
    log.warning("no --api-keys: %s listens on %s (loopback) only; give --api-keys to serve other machines, "
                "or --host to choose the interface yourself", what, LOOPBACK)
    return LOOPBACK
