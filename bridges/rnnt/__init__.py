"""The `rnnt` dialect bridge: `python -m bridges.rnnt --port 8000 --core HOST:PORT [--engine NAME]`.

Endpoint `ws://HOST:8000/ws/transcribe?client_id=...` (shared/protocols/rnnt.md). The document's
limits are the defaults (bridges/rnnt/codec.py `LIMITS`, `RnntSettings`): 10 connections, 60 min
per recording (`--max-recording-seconds`), 8 KB frames, 30 s idle during a recording. The
runtime's `--max-session-seconds` (per connection) is off by default for this dialect.
"""
from __future__ import annotations

from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec

from .codec import LIMITS, RnntCodec, RnntSettings


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> RnntCodec:
    return RnntCodec(info.query.get("client_id") or None, engine=bridge.options.engine, limits=bridge.limits,
                     settings=bridge.settings)


# The document's port 8000 is funasr's too: alone rnnt keeps it, beside funasr (`make run`) it gets 8002.
SPEC = DialectSpec(name="rnnt", path="/ws/transcribe", default_port=8000, stack_port=8002, codec_factory=make_codec,
                   limits=LIMITS, settings=RnntSettings(), reference="[rnnt.md](../shared/protocols/rnnt.md)",
                   notes="the document says 8000, which funasr also claims, so `make run` gives rnnt 8002; "
                         "`python -m bridges.rnnt` alone uses 8000")

__all__ = ["SPEC", "RnntCodec", "RnntSettings"]
