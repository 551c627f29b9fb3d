"""Errors from the recognizer, with the google.rpc details the core attaches parsed out."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from asr_common.durations import seconds

from .targets import ALL_CORES_BUSY_MESSAGE, ALL_CORES_BUSY_RETRY_SECONDS, all_cores_busy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldViolation:
    field: str  # path in the request, e.g. "audio" or "config.sample_rate_hertz"
    description: str


@dataclass(eq=False)  # exceptions compare by identity
class RecognizerError(Exception):
    """A call ended with a non-OK gRPC status.

    `retry_after` (seconds) is set when the server says the call may succeed later
    (RetryInfo); `field_violations` lists what was wrong with the request (BadRequest);
    `reason`/`domain`/`metadata` come from ErrorInfo.
    """

    code: grpc.StatusCode
    message: str
    address: str = ""
    retry_after: float | None = None
    field_violations: tuple[FieldViolation, ...] = ()
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [f"{self.code.name}: {self.message}"]
        for v in self.field_violations:
            same = v.description == self.message
            parts.append(f"  field: {v.field}" if same else f"  {v.field}: {v.description}")
        if self.retry_after is not None:
            parts.append(f"  retry after {self.retry_after:g} s")
        return "\n".join(parts)

    @property
    def retryable(self) -> bool:
        return self.retry_after is not None or self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


class ServerUnreachable(RecognizerError):
    """No connection to the server at all (nothing listening, DNS failure, TLS mismatch)."""

    def __str__(self) -> str:
        return (
            f"cannot reach the ASR server at {self.address or '(unknown address)'}: {self.message}\n"
            "Start it with `make run`, or point to a running one with --server HOST:PORT "
            "or the ASR_SERVER environment variable."
        )


def from_rpc_error(error: grpc.RpcError, address: str = "") -> RecognizerError:
    """Turn a grpc (sync or aio) RpcError into a RecognizerError with its rich details."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(error)
    status = _rich_status(error)
    if status is None:
        if all_cores_busy(code.name, message):  # every core NOT_SERVING (full or draining): busy, retry
            return RecognizerError(grpc.StatusCode.RESOURCE_EXHAUSTED, ALL_CORES_BUSY_MESSAGE, address,
                                   retry_after=ALL_CORES_BUSY_RETRY_SECONDS, reason="NO_HEALTHY_CORE")
        if code == grpc.StatusCode.UNAVAILABLE:
            # The core always attaches details to its own UNAVAILABLE (overload, upstream
            # failure); a bare one comes from the channel: nothing answered at `address`.
            return ServerUnreachable(code, message, address)
        return RecognizerError(code, message, address)
    return error_from_status(status, code, address)


def error_from_status(status: status_pb2.Status, code: grpc.StatusCode, address: str = "") -> RecognizerError:
    violations: list[FieldViolation] = []
    retry_after: float | None = None
    reason = domain = ""
    metadata: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            retry_after = seconds(info.retry_delay)
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        else:
            log.debug("ignoring unknown error detail %s", detail.type_url)
    return RecognizerError(
        code=code,
        message=status.message,
        address=address,
        retry_after=retry_after,
        field_violations=tuple(violations),
        reason=reason,
        domain=domain,
        metadata=metadata,
    )


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(error)  # works for grpc.aio.AioRpcError too
    except ValueError as exc:  # details disagree with the status line; keep the status line
        log.warning("inconsistent grpc-status-details-bin: %s", exc)
        return None
    except (AttributeError, TypeError):
        return None
