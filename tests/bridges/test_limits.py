"""One `Limits` (bridges/limits.py): flags generated from its fields, parsed once, handed to the
pump and the transport unchanged; a dialect's own limits are its own dataclass on the spec."""
from __future__ import annotations

from dataclasses import fields

from bridges.limits import Limits
from bridges.rnnt import SPEC as RNNT
from bridges.rnnt.codec import RnntSettings
from bridges.runtime import Bridge, ConnectionInfo, build_parser
from bridges.whisperlive import SPEC as WHISPERLIVE
from bridges.whisperlive.slots import Slots


def bridge(spec, *flags: str) -> Bridge:
    return Bridge.from_argv(spec, ["--port", "0", "--core", "127.0.0.1:1", *flags])


def test_every_limit_is_a_flag_with_help_and_the_dialects_default():
    help_text = build_parser(RNNT).format_help()
    for f in fields(Limits):
        assert "--" + f.name.replace("_", "-") in help_text, f.name
    assert bridge(RNNT).limits == RNNT.limits  # the dialect's defaults, untouched


def test_flags_reach_the_limits_and_zero_means_no_limit():
    limits = bridge(RNNT, "--max-message-bytes", "4096", "--idle-timeout", "0", "--max-session-seconds", "90").limits
    assert limits.max_message_bytes == 4096 and limits.idle_timeout is None and limits.max_session_seconds == 90
    assert limits.backstop_bytes == 2 * 4096 + 64 * 1024  # what the transport is given


def test_a_dialects_own_limits_are_generated_too_and_reach_its_codec():
    b = bridge(RNNT, "--max-recording-seconds", "120", "--max-connections", "3")
    assert b.context.settings == RnntSettings(max_recording_seconds=120.0)
    codec = RNNT.codec_factory(ConnectionInfo("/ws/transcribe", {}, "p", "s-1"), b.context)
    assert codec.max_recording_seconds == 120.0 and codec.limits.max_connections == 3


def test_whisperlive_slots_are_the_bridges_state_not_in_the_namespace():
    b = bridge(WHISPERLIVE, "--max-clients", "2", "--max-connection-time", "30")
    assert isinstance(b.context.state, Slots) and b.context.state.capacity == 2
    assert not any(isinstance(value, Slots) for value in vars(b.options).values())
    assert b.limits.max_session_seconds == 30.0  # the reference's flag is the runtime's limit: enforced once
    info = ConnectionInfo("/", {}, "p", "s-1")
    first, second = (WHISPERLIVE.codec_factory(info, b.context) for _ in range(2))
    assert first.slots is second.slots is b.context.state
