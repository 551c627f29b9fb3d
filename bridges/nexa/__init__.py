"""nexa dialect: ws://HOST:8080/v1/audio/stream (see bridges/nexa/codec.py)."""
from __future__ import annotations

from bridges.nexa.codec import MAX_MESSAGE_BYTES, NexaCodec
from bridges.limits import Limits
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> NexaCodec:
    return NexaCodec(engine=bridge.options.engine)


SPEC = DialectSpec(
    name="nexa",
    path="/v1/audio/stream",
    default_port=8080,
    codec_factory=make_codec,
    limits=Limits(max_message_bytes=MAX_MESSAGE_BYTES),  # a whole short file in one message (docs/bridges.md)
    reference="[nexa.md](../shared/protocols/nexa.md)",
)
