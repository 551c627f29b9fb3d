"""vosk dialect: Vosk's WebSocket server protocol, ws://HOST:2700/ (bridges/vosk/codec.py)."""
from __future__ import annotations

from dataclasses import dataclass

from asr_common.contract import MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ
from bridges.limits import limit
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec
from bridges.vosk.codec import MAX_ALTERNATIVES, VoskCodec, VoskConfig


@dataclass(frozen=True)
class VoskSettings:
    """asr_server.py's environment defaults (VOSK_SAMPLE_RATE, VOSK_ALTERNATIVES) as flags."""

    sample_rate: int = limit(8000, f"Hz of audio sent without a config ({MIN_SAMPLE_RATE_HERTZ}-"
                                   f"{MAX_SAMPLE_RATE_HERTZ}; Vosk's telephony default is 8000)")
    max_alternatives: int = limit(0, f"alternatives per result without a config (0-{MAX_ALTERNATIVES}; "
                                     "0 = plain results)")


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> VoskCodec:
    settings: VoskSettings = bridge.settings
    return VoskCodec(engine=bridge.options.engine, config=VoskConfig(
        sample_rate=settings.sample_rate, max_alternatives=settings.max_alternatives))


SPEC = DialectSpec(
    name="vosk",
    path="/",
    default_port=2700,
    codec_factory=make_codec,
    settings=VoskSettings(),
    reference="[vosk-server websocket](https://github.com/alphacep/vosk-server/tree/master/websocket)",
    notes="Asterisk, Jigasi and FreeSWITCH Vosk modules; 8 kHz PCM by default; one reply per audio frame",
)
