"""The one fault table (bridges/faults.py) and the per-transport endings (bridges/endings.py):
every core status has one meaning, and each transport says it in its own shape."""
from __future__ import annotations

from http import HTTPStatus

import grpc
import pytest

from bridges.endings import (EndKind, Ending, Refuse, RefuseKind, grpc_ending, http_ending, http_refusal, tcp_line,
                             ws_close_code)
from bridges.faults import CoreError, classify, describe, error_ending, public_core_error

FAULTS = {
    grpc.StatusCode.INVALID_ARGUMENT: EndKind.CLIENT_FAULT,
    grpc.StatusCode.FAILED_PRECONDITION: EndKind.CLIENT_FAULT,
    grpc.StatusCode.OUT_OF_RANGE: EndKind.CLIENT_FAULT,
    grpc.StatusCode.DEADLINE_EXCEEDED: EndKind.CLIENT_FAULT,
    grpc.StatusCode.UNAUTHENTICATED: EndKind.CLIENT_FAULT,
    grpc.StatusCode.PERMISSION_DENIED: EndKind.CLIENT_FAULT,
    grpc.StatusCode.NOT_FOUND: EndKind.CLIENT_FAULT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: EndKind.BUSY,
    grpc.StatusCode.UNAVAILABLE: EndKind.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: EndKind.INTERNAL,
    grpc.StatusCode.UNKNOWN: EndKind.INTERNAL,
    grpc.StatusCode.INTERNAL: EndKind.INTERNAL,
    grpc.StatusCode.UNIMPLEMENTED: EndKind.INTERNAL,
    grpc.StatusCode.ABORTED: EndKind.INTERNAL,
    grpc.StatusCode.DATA_LOSS: EndKind.INTERNAL,
    grpc.StatusCode.ALREADY_EXISTS: EndKind.INTERNAL,
}


@pytest.mark.parametrize("code,kind", FAULTS.items(), ids=[c.name for c in FAULTS])
def test_every_core_status_has_one_fault(code, kind):
    assert classify(CoreError(code, "x")) is kind


def test_the_table_covers_every_status_but_ok():
    assert set(FAULTS) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


def test_deadline_exceeded_is_the_clients_fault_and_its_words_reach_the_client():
    """The core's deadlines are all the client's (no config in time, no audio): before this table
    one bridge said client fault, one internal error, one 'engine unavailable, retry'."""
    error = CoreError(grpc.StatusCode.DEADLINE_EXCEEDED, "no request for 30 s; the stream was ended",
                      reason="IDLE_TIMEOUT")
    public = public_core_error(error, "1a2b3c4d")
    assert public.message == "no request for 30 s; the stream was ended (error id 1a2b3c4d)"
    ending = error_ending(error)
    assert ending.kind is EndKind.CLIENT_FAULT and ws_close_code(ending) == 1008
    assert http_ending(ending)[0] == HTTPStatus.BAD_REQUEST
    assert grpc_ending(ending) == (grpc.StatusCode.INVALID_ARGUMENT, None)


def test_a_draining_core_is_shutting_down_and_its_retry_time_is_kept():
    error = CoreError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down", 1.0, "SHUTTING_DOWN")
    assert classify(error) is EndKind.SHUTTING_DOWN
    ending = error_ending(error)
    assert ws_close_code(ending) == 1001
    assert http_ending(ending) == (HTTPStatus.SERVICE_UNAVAILABLE, (("Retry-After", "1"),))
    assert grpc_ending(ending) == (grpc.StatusCode.UNAVAILABLE, 1.0)


def test_busy_says_when_to_retry_on_every_transport():
    error = CoreError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many sessions", retry_after=7.2)
    ending = error_ending(error)
    assert ending == Ending(EndKind.BUSY, "RESOURCE_EXHAUSTED", 7.2)
    assert ws_close_code(ending) == 1013
    assert http_ending(ending) == (HTTPStatus.SERVICE_UNAVAILABLE, (("Retry-After", "8"),))
    assert grpc_ending(ending) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 8.0)
    assert describe(public_core_error(error, "ab")).endswith("retry in 7 s")


def test_internal_errors_hide_the_cores_words_behind_an_error_id():
    error = CoreError(grpc.StatusCode.INTERNAL, "Traceback in /srv/asr/engine.py at 10.0.0.7:50051")
    public = public_core_error(error, "deadbeef")
    assert "/srv" not in public.message and "10.0.0.7" not in public.message and "deadbeef" in public.message
    assert ws_close_code(error_ending(error)) == 1011


def test_an_unreachable_core_never_names_its_address():
    error = CoreError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; ipv4:10.0.0.7:50051")
    message = public_core_error(error, "ab").message
    assert message == "the recognition service is unavailable; retry in 5 s (error id ab)"


def test_a_documented_websocket_close_code_wins_only_on_websocket():
    too_big = Ending(EndKind.CLIENT_FAULT, "message too big", ws_code=1009)
    assert ws_close_code(too_big) == 1009 and too_big.client_fault
    assert http_ending(too_big)[0] == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert grpc_ending(too_big)[0] == grpc.StatusCode.OUT_OF_RANGE


def test_refusals_before_a_session_in_http_grpc_and_tcp_shapes():
    status, body, headers = http_refusal(Refuse(RefuseKind.UNAUTHENTICATED, "no API key"))
    assert status == HTTPStatus.UNAUTHORIZED and body == "no API key\n" and dict(headers)["WWW-Authenticate"]
    status, _, headers = http_refusal(Refuse(RefuseKind.BUSY, "full", retry_after=3))
    assert status == HTTPStatus.SERVICE_UNAVAILABLE and dict(headers) == {"Retry-After": "3"}
    assert tcp_line("busy", "full;\nretry later") == b"busy full; retry later\n"


def test_a_grpc_dialect_names_the_exact_status_its_vendor_documents():
    ending = Ending(EndKind.CLIENT_FAULT, "operation not found", grpc_code=grpc.StatusCode.NOT_FOUND)
    assert grpc_ending(ending) == (grpc.StatusCode.NOT_FOUND, None)
    assert ws_close_code(ending) == 1008 and http_ending(ending)[0] == HTTPStatus.BAD_REQUEST  # the kind elsewhere
