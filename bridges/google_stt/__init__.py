"""google-stt dialect: ws://HOST:8001/ws/asr-stream (see bridges/google_stt/codec.py)."""
from __future__ import annotations

import argparse
import os

from bridges.google_stt.codec import END_AFTER_SILENCE, GoogleSttCodec, GoogleSttOptions
from bridges.limits import Limits
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults follow the document's Settings class and environment variables.
    parser.add_argument("--default-language", default=os.environ.get("DEFAULT_LANGUAGE_CODE", "ar-EG"),
                        help="language_code when the config leaves it out (env DEFAULT_LANGUAGE_CODE)")
    parser.add_argument("--default-sample-rate", type=int,
                        default=int(os.environ.get("DEFAULT_SAMPLE_RATE_HERTZ", "16000")),
                        help="sample_rate_hertz when the config leaves it out (env DEFAULT_SAMPLE_RATE_HERTZ)")
    parser.add_argument("--interim-results", action=argparse.BooleanOptionalAction,
                        default=_env_bool("STREAMING_INTERIM_RESULTS", True),
                        help="send is_final=false transcripts (env STREAMING_INTERIM_RESULTS)")
    parser.add_argument("--automatic-punctuation", action=argparse.BooleanOptionalAction,
                        default=_env_bool("ENABLE_AUTOMATIC_PUNCTUATION", True),
                        help="punctuation and casing (env ENABLE_AUTOMATIC_PUNCTUATION)")
    parser.add_argument("--end-after-silence", type=float, default=END_AFTER_SILENCE,
                        help="seconds without an audio frame that end the stream (after the first frame); longer "
                             "than a speaker's pause, and said in the metadata acknowledgement")
    # The document's "LOG_LEVEL=debug python run.py", as its other environment variables.
    if os.environ.get("LOG_LEVEL"):
        parser.set_defaults(log_level=os.environ["LOG_LEVEL"])


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> GoogleSttCodec:
    options = bridge.options
    return GoogleSttCodec(GoogleSttOptions(
        default_language=options.default_language, default_sample_rate=options.default_sample_rate,
        interim_results=options.interim_results, automatic_punctuation=options.automatic_punctuation,
        end_after_silence=options.end_after_silence, engine=options.engine))


SPEC = DialectSpec(
    name="google_stt",
    path="/ws/asr-stream",
    default_port=8001,
    codec_factory=make_codec,
    limits=Limits(max_message_bytes=256 * 1024),  # the document recommends 4096-byte chunks, max 16384
    add_arguments=add_arguments,
    reference="[google-stt.md](../shared/protocols/google-stt.md)",
)
