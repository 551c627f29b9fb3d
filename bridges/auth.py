"""Checks of an opening request, before any session exists: `Origin` and the API key.

`UpgradeGuard.check` is one of the runtime's upgrade checks (bridges/transport.py; run after
the path routing), on every transport: an `Origin` not in `--allowed-origins` is refused as
FORBIDDEN (HTTP 403); with `--api-keys`, a missing or unknown key as UNAUTHENTICATED (HTTP 401
with `WWW-Authenticate: Bearer`, gRPC UNAUTHENTICATED; bridges/endings.py). The key is read from
`Authorization: Bearer <key>`, `X-Api-Key: <key>`, or the query parameter `api_key` (browsers
cannot set headers on a WebSocket). The key a client presented is forwarded to the core as
`authorization: Bearer <key>` metadata (`core_metadata()`), so the core's per-key limits and
engine lists apply to every dialect alike.
"""
from __future__ import annotations

import contextvars
import logging
from asr_common.api_keys import KeyRing, presented_secret
from bridges import metrics
from bridges.endings import Refuse, RefuseKind
from bridges.transport import Upgrade

log = logging.getLogger("bridges.auth")

QUERY_PARAM = "api_key"

# The key presented by the client of the connection being served; read when its core call opens.
FORWARDED_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("forwarded_api_key", default=None)


def request_secret(upgrade: Upgrade) -> str | None:
    return presented_secret(upgrade.headers.get("Authorization"), upgrade.headers.get("X-Api-Key"),
                            upgrade.query.get(QUERY_PARAM))


def core_metadata() -> tuple[tuple[str, str], ...] | None:
    """gRPC metadata that forwards the current connection's key to the core (None without one)."""
    secret = FORWARDED_KEY.get()
    return (("authorization", f"Bearer {secret}"),) if secret else None


def parse_origins(value: str) -> frozenset[str]:
    """'https://a.example, https://b.example' -> the set; '' = any origin."""
    return frozenset(o.strip().rstrip("/") for o in value.split(",") if o.strip())


class UpgradeGuard:
    def __init__(self, dialect: str, keys: KeyRing, allowed_origins: frozenset[str]) -> None:
        self.dialect = dialect
        self.keys = keys
        self.allowed_origins = allowed_origins

    def check(self, upgrade: Upgrade) -> Refuse | None:
        origin = upgrade.headers.get("Origin")
        # Only browsers send Origin, and it protects browser users from other sites' pages; a
        # non-browser client could send any value, so a missing header is not refused.
        if self.allowed_origins and origin is not None and origin.rstrip("/") not in self.allowed_origins:
            log.warning("refused an upgrade from %s: origin %s is not allowed", upgrade.peer, origin)
            metrics.refused(self.dialect, "origin")
            return Refuse(RefuseKind.FORBIDDEN, f"origin {origin} is not allowed")
        if not self.keys.enabled:
            return None
        secret = request_secret(upgrade)
        key = self.keys.find(secret)
        if key is None:
            why = "no API key" if secret is None else "an unknown API key"
            log.warning("refused an upgrade from %s: %s", upgrade.peer, why)
            metrics.refused(self.dialect, "auth")
            return Refuse(RefuseKind.UNAUTHENTICATED,
                          f"{why}; send `Authorization: Bearer <key>` or add ?{QUERY_PARAM}=<key> to the URL")
        log.info("upgrade from %s with key %s", upgrade.peer, key.name)
        return None

