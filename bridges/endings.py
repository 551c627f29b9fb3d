"""How a session or an opening request ends, said once for every transport.

A codec ends a session with an `Ending` (bridges/codec.py: it is one of the codec's actions): a
kind (normal, the client's fault, busy with a retry time, the service unavailable, shutting
down, internal) and a reason. A WebSocket dialect whose document names an exact close code
(1009 "message too big", 4000-range codes, 1003 for data it cannot take) carries it in
`ws_code`; a gRPC dialect whose vendor documents an exact status for a fault (Google's NOT_FOUND
for an unknown operation, OUT_OF_RANGE past the stream limit) carries it in `grpc_code`; each
transport uses its own, and maps the kind otherwise.

The runtime refuses an opening request (before any session exists) with a `Refuse`: a kind
(no such endpoint, no or a wrong API key, a forbidden origin, busy), a message saying what to
do, and a retry time.

The tables below are the only place where a kind becomes a transport's own answer:

| ending kind     | WebSocket close | HTTP status                    | gRPC status                       | TCP line      |
|-----------------|-----------------|--------------------------------|-----------------------------------|---------------|
| NORMAL          | 1000            | 200                            | OK                                | -             |
| CLIENT_FAULT    | 1008            | 400                            | INVALID_ARGUMENT                  | client-error  |
| BUSY            | 1013            | 503 + Retry-After              | RESOURCE_EXHAUSTED + RetryInfo    | busy          |
| UNAVAILABLE     | 1013            | 503 + Retry-After              | UNAVAILABLE + RetryInfo           | unavailable   |
| SHUTTING_DOWN   | 1001            | 503 + Retry-After              | UNAVAILABLE + RetryInfo           | shutting-down |
| INTERNAL        | 1011            | 500                            | INTERNAL                          | internal      |

| refusal kind    | HTTP (and the WebSocket upgrade)   | gRPC status          | TCP line      |
|-----------------|------------------------------------|----------------------|---------------|
| NOT_FOUND       | 404                                | UNIMPLEMENTED        | not-found     |
| UNAUTHENTICATED | 401 + WWW-Authenticate: Bearer     | UNAUTHENTICATED      | unauthenticated |
| FORBIDDEN       | 403                                | PERMISSION_DENIED    | forbidden     |
| BUSY            | 503 + Retry-After                  | RESOURCE_EXHAUSTED   | busy          |
| BAD_REQUEST     | 400                                | INVALID_ARGUMENT     | client-error  |

A transport that writes a line before it closes (raw TCP) writes `"<word> <message>\\n"`.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from http import HTTPStatus

import grpc

DEFAULT_RETRY_SECONDS = 5  # Retry-After when a busy or unavailable ending names no time


class EndKind(enum.StrEnum):
    NORMAL = "normal"
    CLIENT_FAULT = "client_fault"  # the client broke a rule or a limit
    BUSY = "busy"  # full now; retry after `retry_after`
    UNAVAILABLE = "unavailable"  # the recognition service cannot be reached; retry
    SHUTTING_DOWN = "shutting_down"  # this instance is going away; reconnect
    INTERNAL = "internal"  # a bug or an unexpected failure (the log has an error id)


@dataclass(frozen=True)
class Ending:
    """End the session (after sending anything queued before this action)."""

    kind: EndKind = EndKind.NORMAL
    reason: str = ""
    retry_after: float | None = None  # seconds; BUSY, UNAVAILABLE and SHUTTING_DOWN
    ws_code: int | None = None  # the exact WebSocket close code the dialect's document names
    grpc_code: grpc.StatusCode | None = None  # the exact gRPC status the vendor's API documents (NOT_FOUND, ...)

    @property
    def client_fault(self) -> bool:
        """The client sent something unacceptable (the runtime logs one WARNING)."""
        return self.kind is EndKind.CLIENT_FAULT or self.ws_code in WS_CLIENT_FAULT_CODES

    @property
    def ok(self) -> bool:
        """A normal end, or one asked for by the runtime (shutdown): not an error outcome."""
        return self.kind in (EndKind.NORMAL, EndKind.SHUTTING_DOWN)


def normal(reason: str = "") -> Ending:
    return Ending(EndKind.NORMAL, reason)


def client_fault(reason: str, ws_code: int | None = None) -> Ending:
    return Ending(EndKind.CLIENT_FAULT, reason, ws_code=ws_code)


def busy(reason: str, retry_after: float | None = None) -> Ending:
    return Ending(EndKind.BUSY, reason, retry_after)


def shutting_down(reason: str = "shutting down") -> Ending:
    return Ending(EndKind.SHUTTING_DOWN, reason)


def internal(reason: str) -> Ending:
    return Ending(EndKind.INTERNAL, reason)


def retry_seconds(retry_after: float | None) -> int:
    """A retry time as whole seconds (at least 1) for Retry-After and "retry in N s"."""
    return max(1, math.ceil(retry_after)) if retry_after else DEFAULT_RETRY_SECONDS


# ---- WebSocket ------------------------------------------------------------------------------
WS_CLOSE_CODES: dict[EndKind, int] = {
    EndKind.NORMAL: 1000, EndKind.CLIENT_FAULT: 1008, EndKind.BUSY: 1013, EndKind.UNAVAILABLE: 1013,
    EndKind.SHUTTING_DOWN: 1001, EndKind.INTERNAL: 1011,
}
# RFC 6455 codes that mean "the client sent something unacceptable".
WS_CLIENT_FAULT_CODES = frozenset({1002, 1003, 1007, 1008, 1009})
WS_MESSAGE_TOO_BIG = 1009
WS_UNSUPPORTED_DATA = 1003


def ws_close_code(ending: Ending) -> int:
    return ending.ws_code if ending.ws_code is not None else WS_CLOSE_CODES[ending.kind]


# ---- HTTP -----------------------------------------------------------------------------------
HTTP_STATUS: dict[EndKind, HTTPStatus] = {
    EndKind.NORMAL: HTTPStatus.OK, EndKind.CLIENT_FAULT: HTTPStatus.BAD_REQUEST,
    EndKind.BUSY: HTTPStatus.SERVICE_UNAVAILABLE, EndKind.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    EndKind.SHUTTING_DOWN: HTTPStatus.SERVICE_UNAVAILABLE, EndKind.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
}
_RETRY_KINDS = frozenset({EndKind.BUSY, EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN})


def http_ending(ending: Ending) -> tuple[HTTPStatus, tuple[tuple[str, str], ...]]:
    """The HTTP status and headers (Retry-After) for an ending, when no body was sent yet."""
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if ending.ws_code == WS_MESSAGE_TOO_BIG else HTTP_STATUS[ending.kind]
    if ending.kind in _RETRY_KINDS:
        return status, (("Retry-After", str(retry_seconds(ending.retry_after))),)
    return status, ()


# ---- gRPC -----------------------------------------------------------------------------------
GRPC_STATUS: dict[EndKind, grpc.StatusCode] = {
    EndKind.NORMAL: grpc.StatusCode.OK, EndKind.CLIENT_FAULT: grpc.StatusCode.INVALID_ARGUMENT,
    EndKind.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED, EndKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    EndKind.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE, EndKind.INTERNAL: grpc.StatusCode.INTERNAL,
}


def grpc_ending(ending: Ending) -> tuple[grpc.StatusCode, float | None]:
    """The gRPC status code and the RetryInfo delay (seconds, None = no RetryInfo)."""
    if ending.grpc_code is not None:
        code = ending.grpc_code
    else:
        code = grpc.StatusCode.OUT_OF_RANGE if ending.ws_code == WS_MESSAGE_TOO_BIG else GRPC_STATUS[ending.kind]
    return code, float(retry_seconds(ending.retry_after)) if ending.kind in _RETRY_KINDS else None


# ---- raw TCP --------------------------------------------------------------------------------
TCP_WORDS: dict[EndKind, str] = {
    EndKind.NORMAL: "", EndKind.CLIENT_FAULT: "client-error", EndKind.BUSY: "busy",
    EndKind.UNAVAILABLE: "unavailable", EndKind.SHUTTING_DOWN: "shutting-down", EndKind.INTERNAL: "internal",
}


# ---- refusals before a session --------------------------------------------------------------
class RefuseKind(enum.StrEnum):
    NOT_FOUND = "not_found"  # no endpoint at that path (or no such service/method)
    UNAUTHENTICATED = "unauthenticated"  # no or an unknown API key
    FORBIDDEN = "forbidden"  # an origin not allowed
    BUSY = "busy"  # the bridge or this client is at its connection cap; retry
    BAD_REQUEST = "bad_request"  # the opening request itself is malformed


@dataclass(frozen=True)
class Refuse:
    """Answer an opening request with this instead of a session."""

    kind: RefuseKind
    message: str  # one sentence saying what to do
    retry_after: float | None = None  # seconds; BUSY


HTTP_REFUSALS: dict[RefuseKind, HTTPStatus] = {
    RefuseKind.NOT_FOUND: HTTPStatus.NOT_FOUND, RefuseKind.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    RefuseKind.FORBIDDEN: HTTPStatus.FORBIDDEN, RefuseKind.BUSY: HTTPStatus.SERVICE_UNAVAILABLE,
    RefuseKind.BAD_REQUEST: HTTPStatus.BAD_REQUEST,
}
GRPC_REFUSALS: dict[RefuseKind, grpc.StatusCode] = {
    RefuseKind.NOT_FOUND: grpc.StatusCode.UNIMPLEMENTED, RefuseKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    RefuseKind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED, RefuseKind.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,
    RefuseKind.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
}
TCP_REFUSALS: dict[RefuseKind, str] = {
    RefuseKind.NOT_FOUND: "not-found", RefuseKind.UNAUTHENTICATED: "unauthenticated",
    RefuseKind.FORBIDDEN: "forbidden", RefuseKind.BUSY: "busy", RefuseKind.BAD_REQUEST: "client-error",
}


def http_refusal(refuse: Refuse) -> tuple[HTTPStatus, str, tuple[tuple[str, str], ...]]:
    """Status, body and headers of the HTTP answer to a refused request (WebSocket upgrade too)."""
    headers: tuple[tuple[str, str], ...] = ()
    if refuse.kind is RefuseKind.UNAUTHENTICATED:
        headers = (("WWW-Authenticate", 'Bearer realm="asr"'),)
    elif refuse.kind is RefuseKind.BUSY:
        headers = (("Retry-After", str(retry_seconds(refuse.retry_after))),)
    return HTTP_REFUSALS[refuse.kind], refuse.message.rstrip("\n") + "\n", headers


def tcp_line(word: str, message: str) -> bytes:
    """The one line a raw TCP transport writes before it closes on a refusal or an error ending."""
    return f"{word} {' '.join(message.split())}\n".encode()
