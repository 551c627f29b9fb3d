"""OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`, as codec actions.

The HTTP status comes from the ending's kind (bridges/endings.py): a client fault is 400 (413
for a body over the limit), busy and unavailable 503 with `Retry-After`, internal 500.
"""
from __future__ import annotations

from typing import Any

from bridges.codec import Action
from bridges.endings import EndKind, client_fault
from bridges.faults import CoreError, classify, describe, error_ending
from bridges.transport import SendJson

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"

# The error `type` OpenAI sends for each kind of ending.
TYPES = {EndKind.CLIENT_FAULT: INVALID_REQUEST, EndKind.BUSY: "rate_limit_error",
         EndKind.UNAVAILABLE: SERVER_ERROR, EndKind.SHUTTING_DOWN: SERVER_ERROR, EndKind.INTERNAL: SERVER_ERROR}


def error_body(message: str, type_: str = INVALID_REQUEST, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def refuse(message: str, param: str | None = None, code: str | None = None) -> list[Action]:
    """A request OpenAI would answer 400: its error body, then the end of the exchange."""
    return [SendJson(error_body(message, INVALID_REQUEST, param, code)), client_fault(message)]


def core_error_body(error: CoreError) -> dict[str, Any]:
    """A failed core call in OpenAI's words; `param` names the field the core refused."""
    param = error.field_violations[0][0] if error.field_violations else None
    return error_body(describe(error), TYPES[classify(error)], param, error.code.name.lower())


def core_failure(error: CoreError) -> list[Action]:
    return [SendJson(core_error_body(error)), error_ending(error, error.message)]
