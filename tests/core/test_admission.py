"""Admission control decisions for given load measurements."""
from __future__ import annotations

import grpc
import pytest

from core_service.admission import Admission, AdmissionPolicy, Load
from core_service.errors import ApiError


def admission(share: float, wait: float = 0.0, **policy) -> Admission:
    return Admission(AdmissionPolicy(**policy), lambda: Load(share, wait))


def test_streams_are_admitted_while_finals_have_headroom():
    a = admission(0.3, max_sessions=8)
    tickets = [a.admit() for _ in range(4)]
    assert a.active == 4
    for t in tickets:
        a.release(t)
    assert a.active == 0


def test_a_stream_that_would_push_finals_past_the_budget_is_refused_with_a_retry_estimate():
    a = admission(0.65, max_sessions=32, final_share_budget=0.7)
    a.admit(), a.admit()  # min_streams are always admitted
    with pytest.raises(ApiError) as err:
        a.admit()  # 0.65 * 3/2 > 0.7
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.reason == "AT_CAPACITY" and err.value.retry_after >= 1.0


def test_finals_waiting_too_long_refuse_new_streams():
    a = admission(0.1, wait=1.2, final_wait_budget=0.6)
    a.admit(), a.admit()
    with pytest.raises(ApiError):
        a.admit()


def test_hard_session_cap():
    a = admission(0.0, max_sessions=1)
    a.admit()
    with pytest.raises(ApiError) as err:
        a.admit()
    assert err.value.reason == "TOO_MANY_SESSIONS"


def test_retry_estimate_follows_typical_stream_length(monkeypatch):
    import core_service.admission as mod
    now = [1000.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    a = admission(0.0, max_sessions=1)
    t = a.admit()
    now[0] += 30.0
    a.release(t)  # a typical stream lasts 30 s
    a.admit()
    now[0] += 12.0  # the open one is 12 s old: about 18 s left
    assert a.retry_estimate() == pytest.approx(18.0)


def test_uploads_do_not_count_against_realtime_capacity():
    a = admission(0.65, max_sessions=32, final_share_budget=0.7)
    for _ in range(4):
        a.classify(a.admit(), realtime=False)  # each measured as an upload before the next arrives
    a.admit(), a.admit()  # two real-time streams: the min_streams, whatever the uploads do
    assert a.realtime == 2 and a.active == 6
    with pytest.raises(ApiError):
        a.admit()  # the third real-time stream is measured against real-time load only


def test_an_upload_still_counts_against_the_hard_session_cap():
    a = admission(0.0, max_sessions=2)
    for _ in range(2):
        a.classify(a.admit(), realtime=False)
    with pytest.raises(ApiError) as err:
        a.admit()
    assert err.value.reason == "TOO_MANY_SESSIONS"


def test_at_realtime_capacity_a_stream_starts_provisionally_as_an_upload():
    share = [0.65]
    a = Admission(AdmissionPolicy(max_sessions=32, final_share_budget=0.7), lambda: Load(share[0], 0.0))
    a.admit(), a.admit()
    ticket, refusal = a.admit_provisionally()
    assert refusal is not None and refusal.reason == "AT_CAPACITY"
    assert a.active == 3 and a.realtime == 2  # counted as an upload until promoted
    assert a.promote(ticket) is not None  # still full: the caller ends the stream with this
    share[0] = 0.1
    assert a.promote(ticket) is None and a.realtime == 3


def test_with_room_a_stream_is_admitted_as_realtime_at_once():
    a = admission(0.1, max_sessions=8)
    ticket, refusal = a.admit_provisionally()
    assert refusal is None and a.realtime == 1
