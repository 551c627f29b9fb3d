"""One fault vocabulary: what a failed core call means for the client, decided once.

`classify(error)` turns a core status (`CoreError`: a `grpc.StatusCode` with the google.rpc
details the core attaches) into the kind of ending (bridges/endings.py), and each transport
maps that kind to its own shape (a WebSocket close code, an HTTP status with Retry-After, a
gRPC status with RetryInfo). Dialects choose only their words.

| core status                                   | fault          | why                                              |
|-----------------------------------------------|----------------|--------------------------------------------------|
| INVALID_ARGUMENT, FAILED_PRECONDITION,        | CLIENT_FAULT   | the config, the audio or the call broke a rule   |
| OUT_OF_RANGE                                  |                | or a limit of the core (or of the API key)       |
| DEADLINE_EXCEEDED                             | CLIENT_FAULT   | every core deadline is the client's: no config   |
|                                               |                | in time (CONFIG_TIMEOUT), no audio (IDLE_TIMEOUT)|
| UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND | CLIENT_FAULT   | the key, or an engine/model the client named     |
| RESOURCE_EXHAUSTED                            | BUSY           | full now; retry after RetryInfo (default 5 s)    |
| UNAVAILABLE, ErrorInfo reason SHUTTING_DOWN   | SHUTTING_DOWN  | the core is draining; reconnect                  |
| UNAVAILABLE (anything else)                   | UNAVAILABLE    | no core reachable; retry after RetryInfo or 5 s  |
| CANCELLED, UNKNOWN, INTERNAL, UNIMPLEMENTED,  | INTERNAL       | a bug or a broken deployment: the message is     |
| ABORTED, DATA_LOSS                            |                | replaced by "internal error" and an error id     |

Before this table the bridges disagreed on DEADLINE_EXCEEDED (client fault in whisperlive,
internal in google_stt and nexa, "engine unavailable, retry" in rnnt); the core only uses it
for deadlines the client missed, so it is the client's fault everywhere.

Messages to clients (`public_core_error`) never carry server paths or core addresses: every
kind but INTERNAL keeps the core's own words (scrubbed: they are written for the client); an
unreachable core is "the recognition service is unavailable; retry in N s" (gRPC's own words
name the core's address); every message ends with the error id the bridge's log line repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import grpc

from bridges.endings import EndKind, Ending, retry_seconds
from asr_common.redact import scrub


@dataclass(frozen=True)
class CoreError:
    """The gRPC call to the core failed (or the core could not be reached)."""

    code: grpc.StatusCode
    message: str
    retry_after: float | None = None  # seconds, from google.rpc.RetryInfo
    reason: str = ""  # google.rpc.ErrorInfo.reason when present
    field_violations: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # google.rpc.BadRequest


_CLIENT = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                     grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.DEADLINE_EXCEEDED,
                     grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                     grpc.StatusCode.NOT_FOUND})
SHUTTING_DOWN_REASON = "SHUTTING_DOWN"  # the core's ErrorInfo.reason while it drains (core_service/session.py)


def classify(error: CoreError) -> EndKind:
    """The fault a core status means (the table in the module docstring)."""
    if error.code in _CLIENT:
        return EndKind.CLIENT_FAULT
    if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return EndKind.BUSY
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return EndKind.SHUTTING_DOWN if error.reason == SHUTTING_DOWN_REASON else EndKind.UNAVAILABLE
    return EndKind.INTERNAL


def retries(error: CoreError) -> bool:
    """The client should try again later (busy, unavailable, shutting down)."""
    return classify(error) in (EndKind.BUSY, EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN)


def error_ending(error: CoreError, reason: str | None = None) -> Ending:
    """The ending of a session whose core call failed; `reason` defaults to the status name."""
    kind = classify(error)
    retry = error.retry_after if kind is not EndKind.CLIENT_FAULT else None
    return Ending(kind, error.code.name if reason is None else reason, retry)


def public_core_error(error: CoreError, error_id: str) -> CoreError:
    """The core error as a client may see it: its own words unless INTERNAL (scrubbed), always
    with the error id that the bridge's log line carries."""
    kind = classify(error)
    if kind in (EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN):
        message = unavailable_message(error)
    elif kind is not EndKind.INTERNAL and error.message:
        message = scrub(error.message)
    else:
        message = "internal error in the speech-recognition service"
    violations = tuple((name, scrub(desc)) for name, desc in error.field_violations)
    return replace(error, message=f"{message} (error id {error_id})", field_violations=violations)


def unavailable_message(error: CoreError) -> str:
    """UNAVAILABLE in the client's words. gRPC's own message for a core it cannot reach names the
    core's address ("failed to connect to all addresses; last error: ... ipv4:10.0.0.7:50051:
    Connection refused"), so it is not repeated; the core's own reason (it is shutting down) is."""
    own = f" ({scrub(error.message)})" if error.reason and error.message else ""
    return f"the recognition service is unavailable{own}; retry in {retry_seconds(error.retry_after)} s"


def describe(error: CoreError) -> str:
    """One human sentence for a public core error, with what to do about it (for the dialects
    whose documents have no error vocabulary of their own: google_stt, nexa)."""
    kind = classify(error)
    if kind in (EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN):  # already the whole sentence, error id included
        return error.message
    if kind is EndKind.BUSY:
        wait = f" in {error.retry_after:.0f} s" if error.retry_after else " later"
        return f"speech recognition service is busy ({error.message}); retry{wait}"
    if error.field_violations:
        return "; ".join(desc if name in desc else f"{name}: {desc}" for name, desc in error.field_violations)
    return error.message or error.code.name
