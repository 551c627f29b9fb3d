"""wyoming dialect: Home Assistant's Wyoming protocol, raw TCP on port 10300 (bridges/wyoming/codec.py)."""
from __future__ import annotations

import argparse
import json

from bridges.endings import retry_seconds
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec
from bridges.transports.framing import HeaderPayloadFramer
from bridges.transports.tcp import TcpOptions
from bridges.wyoming import events
from bridges.engine_catalog import EngineCatalog
from bridges.wyoming.codec import WyomingCodec

FRAMER = HeaderPayloadFramer()


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> WyomingCodec:
    bridge.state.refresh()  # a stale model list is fetched now: a `describe` usually comes first
    return WyomingCodec(engine=bridge.options.engine, catalog=bridge.state)


def final_event(word: str, message: str, retry_after: float | None) -> bytes:
    """The transport's last word before it closes (an oversized or unreadable event, a refusal
    before the session): a Wyoming `error` event, its code the transport's word."""
    if retry_after is not None:
        message = f"{message}; retry in {retry_seconds(retry_after)} s"
    return FRAMER.encode(json.dumps(events.error(message, word).payload))


def startup_warnings(options: argparse.Namespace) -> list[str]:
    if options.api_keys:
        return ["--api-keys: Wyoming clients cannot present a key, so every connection will be refused; "
                "run the bridge on a trusted network instead (docs/wyoming.md)"]
    return []


SPEC = DialectSpec(
    name="wyoming",
    path="/",
    default_port=10300,
    codec_factory=make_codec,
    transport="tcp",
    transport_options={"tcp": TcpOptions(framer=FRAMER, final_line=final_event)},
    make_state=lambda context: EngineCatalog(context.pool),
    startup_warnings=startup_warnings,
    reference="[Wyoming protocol](https://github.com/OHF-Voice/wyoming)",
    notes="Home Assistant's speech-to-text servers; streams transcript chunks (`supports_transcript_streaming`); "
          "no keys (the protocol has none): keep it on a trusted network",
)
