"""The `rnnt` dialect bridge: `python -m bridges.rnnt --port 8000 --core HOST:PORT [--engine NAME]`.

Endpoint `ws://HOST:8000/ws/transcribe?client_id=...` (shared/protocols/rnnt.md). The document's
limits are the defaults: 10 connections, 60 min per recording (`--max-recording-seconds`),
8 KB frames, 30 s idle during a recording. The runtime's `--max-session-seconds` (per
connection) is off by default for this dialect.
"""
from __future__ import annotations

import argparse

from bridges.runtime import ConnectionInfo, DialectSpec, Limits

from .codec import RnntCodec, RnntLimits

LIMITS = Limits(max_connections=10, max_message_bytes=8 * 1024, max_session_seconds=None, idle_timeout=30.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-recording-seconds", type=float, default=RnntLimits.max_recording_seconds,
                        help="the document's 'maximum session duration', per recording: then recording_stopped, "
                             "an error and close 1008 (0 = no limit)")


def make_codec(info: ConnectionInfo, options: argparse.Namespace) -> RnntCodec:
    limits = RnntLimits(
        max_connections=options.max_connections,
        max_recording_seconds=options.max_recording_seconds or float("inf"),
        max_chunk_bytes=options.max_message_bytes,
        idle_timeout=options.idle_timeout or float("inf"),
    )
    return RnntCodec(info.query.get("client_id") or None, engine=options.engine, limits=limits)


# The document's port 8000 is funasr's too: alone rnnt keeps it, beside funasr (`make run`) it gets 8002.
SPEC = DialectSpec(name="rnnt", path="/ws/transcribe", default_port=8000, stack_port=8002, codec_factory=make_codec,
                   limits=LIMITS, add_arguments=add_arguments)

__all__ = ["SPEC", "RnntCodec", "RnntLimits"]
