"""gRPC errors with google.rpc details: what went wrong, which field, when to retry."""
from __future__ import annotations

import logging

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from asr_common.durations import duration
from asr_common.redact import new_error_id, redact_paths

DOMAIN = "asr.v1"


class ApiError(Exception):
    """The core's one error for a gRPC status: what ends a call, with its google.rpc details.

    Raised by the servicer, the session, admission and the interceptors, and by the engines
    through its kinds in engines/base.py (`EngineError`: `InvalidSettings`, `EngineUnavailable`,
    `UpstreamError`), which preset the status and reason an engine's failure gets."""

    def __init__(self, code: grpc.StatusCode, message: str, *, reason: str = "", field_name: str = "",
                 retry_after: float | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or code.name
        self.field_name = field_name
        self.retry_after = retry_after
        self.metadata = metadata or {}

    def to_status(self) -> grpc.Status:
        details = []
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata)
        details.append(info)
        if self.field_name:
            details.append(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=self.field_name,
                                                            description=redact_paths(self.message))]))
        if self.retry_after is not None:
            details.append(error_details_pb2.RetryInfo(retry_delay=duration(max(self.retry_after, 0.0))))
        status = status_pb2.Status(code=getattr(code_pb2, self.code.name), message=redact_paths(self.message))
        for d in details:
            status.details.add().Pack(d)
        return rpc_status.to_status(status)


def invalid(message: str, field_name: str = "", reason: str = "INVALID_ARGUMENT") -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message, field_name=field_name, reason=reason)


def internal(logger: logging.Logger, what: str, *args: object) -> ApiError:
    """Log the current exception with a fresh error id; return the INTERNAL error for the client,
    which carries the id and neither the exception text nor a path."""
    error_id = new_error_id()
    logger.error("error %s: " + what, error_id, *args, exc_info=True)
    return ApiError(grpc.StatusCode.INTERNAL,
                    f"internal error in the recognition session (error id {error_id}); retry, and report "
                    f"the id to the operator if it persists", reason="INTERNAL", metadata={"error_id": error_id})
