"""A bridge's Prometheus metrics (`--metrics-port`): names `asr_bridge_*`, base units.

Every series carries the `dialect` label, so one Prometheus job can scrape all the bridges.
The runtime and the pump call the small functions below; nothing else touches the metrics.
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge

from bridges.endings import Ending

CONNECTIONS_ACTIVE = Gauge("asr_bridge_connections_active", "Client connections being served now", ["dialect"])
CONNECTIONS = Counter("asr_bridge_connections", "Client connections ended, by outcome "
                      "(ok, refused, core_error, error)", ["dialect", "outcome"])
REFUSALS = Counter("asr_bridge_refusals", "Connections refused, by reason (auth, origin, caps, duplicate, shutdown)",
                   ["dialect", "reason"])
FRAMES_IN = Counter("asr_bridge_frames_received", "Client messages received, by kind (text, binary, message)",
                    ["dialect", "kind"])
FRAMES_REJECTED = Counter("asr_bridge_frames_rejected", "Client frames not passed on, by reason "
                          "(too_large, after_end)", ["dialect", "reason"])
BYTES_IN = Counter("asr_bridge_received_bytes", "Bytes of client frames received", ["dialect"])
BYTES_OUT = Counter("asr_bridge_sent_bytes", "Bytes of messages sent to clients", ["dialect"])
CORE_ERRORS = Counter("asr_bridge_core_errors", "Core calls that ended in an error, by gRPC status code",
                      ["dialect", "code"])

# Refusal reasons of Bridge._refusal, folded into the metric's few reasons.
_REFUSAL_REASONS = {"max_connections": "caps", "duplicate_session": "duplicate", "shutting_down": "shutdown"}


def frame_in(dialect: str, data: object, size: int) -> None:
    kind = "binary" if isinstance(data, bytes) else "text" if isinstance(data, str) else "message"
    FRAMES_IN.labels(dialect, kind).inc()
    BYTES_IN.labels(dialect).inc(size)


def frame_rejected(dialect: str, reason: str) -> None:
    FRAMES_REJECTED.labels(dialect, reason).inc()


def sent(dialect: str, size: int) -> None:
    BYTES_OUT.labels(dialect).inc(size)


def core_error(dialect: str, code: str) -> None:
    CORE_ERRORS.labels(dialect, code).inc()


def refused(dialect: str, reason: str) -> None:
    REFUSALS.labels(dialect, _REFUSAL_REASONS.get(reason, reason)).inc()


def connection_opened(dialect: str) -> None:
    CONNECTIONS_ACTIVE.labels(dialect).inc()


def connection_closed(dialect: str, outcome: str) -> None:
    CONNECTIONS_ACTIVE.labels(dialect).dec()
    CONNECTIONS.labels(dialect, outcome).inc()


def outcome(refused_: bool, end: str, ending: Ending | None) -> str:
    """How a served connection ended, in a few words fit for a label (`ending` None: the client
    closed it)."""
    if refused_:
        return "refused"
    if end.startswith("core error"):
        return "core_error"
    return "ok" if ending is None or ending.ok else "error"
