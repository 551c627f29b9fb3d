"""The `whisperlive` dialect bridge: `python -m bridges.whisperlive --port 9090 --core HOST:PORT`.

Endpoint `ws://HOST:9090` (path `/`), compatible with the whisper-live 0.10.0 Python client
(shared/protocols/whisperlive-client-notes.md). `--max-clients` (default 4) is enforced here,
not by the runtime's `--max-connections`, because a full server must answer with WAIT carrying
the client's uid, which only arrives in its options frame.

The reference server's flags are accepted with their meaning there: `--backend faster_whisper`
(the core's Whisper engine) or `whisperx` (the same, with word timestamps for every session:
WhisperX is faster-whisper plus word alignment), `--model` (every session uses it; default: the
client's `model`), `--language` (when the options leave `language` out; default en),
`--use-vad/--no-vad` (`--no-vad` turns VAD off for every session; default: the client's
`use_vad`), `--enable-diarization` (every session's segments carry a `speaker`, as the client's
own `enable_diarization` option asks: the core's diarization, docs/diarization.md).
`--huggingface-token` is accepted and ignored with a WARNING: nothing is downloaded (the models
ship with the core).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from bridges.limits import Limits, limit
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec

from .codec import BACKEND, WhisperLiveCodec, WhisperLiveSettings
from .options import ServerDefaults
from .slots import Slots

BACKENDS = (BACKEND, "whisperx")
# max_connections is only a backstop above --max-clients (see the module docstring);
# max_session_seconds is the reference's max_connection_time (DISCONNECT when it is up).
LIMITS = Limits(max_connections=1000, max_message_bytes=1024 * 1024, max_session_seconds=600.0, idle_timeout=60.0)


@dataclass(frozen=True)
class WhisperLiveLimits:
    """The dialect's own limits (flags generated: bridges/limits.py)."""

    max_clients: int = limit(4, "concurrent clients; more are answered with WAIT and an estimated wait in minutes")
    audio_gap_finalize: float = limit(1.5, "seconds without audio after which the open segment is completed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-connection-time", dest="max_session_seconds", type=float, default=argparse.SUPPRESS,
                        help="seconds before a client is sent DISCONNECT (same as --max-session-seconds; default 600)")
    # The reference server's flags (shared/protocols/whisperlive.md, "Server Configuration").
    parser.add_argument("--backend", choices=BACKENDS, default=BACKEND,
                        help="transcription backend: faster_whisper (the core's Whisper engine) or whisperx (the "
                             "same with word timestamps for every session); clients are told faster_whisper")
    parser.add_argument("--enable-diarization", action="store_true",
                        help="speaker labels on every session's segments ('speaker': SPEAKER_00, SPEAKER_01, ... "
                             "as WhisperX names them), as the client's enable_diarization option asks")
    parser.add_argument("--huggingface-token", default=None,
                        help="accepted and ignored: nothing is downloaded (the core's models are installed)")
    parser.add_argument("--model", default=None,
                        help="model every session uses, e.g. base or tiny.en (default: the client's 'model' option)")
    parser.add_argument("--language", default="en",
                        help="language when the client's options leave it out (null in the options still detects)")
    vad = parser.add_mutually_exclusive_group()
    vad.add_argument("--use-vad", dest="use_vad", action="store_true", default=True,
                     help="each session follows its client's use_vad option (default)")
    vad.add_argument("--no-vad", dest="use_vad", action="store_false",
                     help="VAD off for every session (segments still end at pauses and by length)")


def slots(bridge: BridgeContext) -> Slots:
    """The bridge's client slots (`--max-clients`), shared by its codecs."""
    return Slots(bridge.settings.max_clients)


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> WhisperLiveCodec:
    options, own = bridge.options, bridge.settings
    settings = WhisperLiveSettings(
        max_clients=own.max_clients,
        max_connection_time=bridge.limits.max_session_seconds or float("inf"),
        engine=options.engine or "whisper",
        audio_gap_finalize=own.audio_gap_finalize,
        defaults=ServerDefaults(model=options.model, language=options.language, use_vad=options.use_vad,
                                word_timestamps=options.backend == "whisperx",
                                diarization=options.enable_diarization),
    )
    return WhisperLiveCodec(settings, slots=bridge.state)


def startup_warnings(options: argparse.Namespace) -> list[str]:
    warnings = []
    if options.huggingface_token:
        warnings.append("--huggingface-token is ignored: nothing is downloaded (the core's models are installed)")
    return warnings


SPEC = DialectSpec(name="whisperlive", path="/", default_port=9090, codec_factory=make_codec,
                   limits=LIMITS, settings=WhisperLiveLimits(), make_state=slots, add_arguments=add_arguments,
                   startup_warnings=startup_warnings, reference="[whisperlive.md](../shared/protocols/whisperlive.md)",
                   notes="works with the published `whisper-live` 0.10.0 client")

__all__ = ["SPEC", "WhisperLiveCodec", "WhisperLiveSettings"]
