"""The one pair of helpers between seconds and `google.protobuf.Duration`, for every side of the wire."""
from __future__ import annotations

from google.protobuf import duration_pb2


def seconds(d: duration_pb2.Duration) -> float:
    return round(d.seconds + d.nanos / 1e9, 9)  # 1.672, not 1.6720000000000002


def duration(s: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(s * 1e9))
    return d
