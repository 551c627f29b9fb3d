"""funasr dialect: ws://HOST:8000/ws/{client_id} (see bridges/funasr/codec.py)."""
from __future__ import annotations

import argparse

from bridges.funasr.codec import FunAsrCodec
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--language", default="zh",
                        help="language for every session, BCP-47 (default zh: the document is a Chinese "
                             "recognition API); with no --engine the bridge asks for FunASR, else the "
                             "multilingual Whisper model")


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> FunAsrCodec:
    return FunAsrCodec(info.params.get("client_id", ""), engine=bridge.options.engine,
                       language=bridge.options.language)


SPEC = DialectSpec(
    name="funasr",
    path="/ws/{client_id}",
    default_port=8000,
    codec_factory=make_codec,
    # The runtime's default Limits: 1 MiB messages, and idle_timeout is the document's
    # CONNECTION_TIMEOUT (30 s without audio).
    add_arguments=add_arguments,
    unique_param="client_id",
    unique_takeover=True,  # "same client_id for reconnection within 5 minutes"
    resume_seconds=300.0,  # ... and the recording goes on (bridges/resume.py)
    reference="[funasr.md](../shared/protocols/funasr.md)",
    notes="a reconnect with the same client_id within 5 minutes resumes the recording",
)
