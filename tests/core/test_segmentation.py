"""Where finals are cut and how they are decoded: `--segmentation` on the server (a preset of
four flags: three cuts and the beam of finals; a flag given explicitly, or its ASR_* variable,
wins) and `StreamingConfig.segmentation` per session (the server's own flags when it names the
server's segmentation, else that preset's; the session's own vad.min_silence_duration and
beam_size win); partials keep their own beam. What each costs and gains: docs/accuracy.md, "Accuracy on
real speech"; the real-speech tests are in test_accuracy_real_speech.py."""
from __future__ import annotations

import pytest

from asr.v1 import asr_pb2
from core_service.config import SEGMENTATION_PRESETS, ServerConfig
from core_service.convert import resolved_config, settings_from_config
from core_service.engines.base import InvalidSettings, SessionSettings
from core_service.engines.whisper import WhisperEngine, WhisperOptions
from core_service.errors import ApiError


def cuts(config: ServerConfig) -> tuple[float, float, float]:
    return config.min_silence, config.sentence_end_silence, config.max_utterance


def test_live_segmentation_is_the_default_cut_at_short_pauses_and_sentence_ends():
    assert ServerConfig.from_args([]).segmentation == "live"
    assert cuts(ServerConfig.from_args([])) == (0.5, 0.2, 15.0)
    assert ServerConfig.from_args([]).segmentation_settings() == SEGMENTATION_PRESETS["live"]


def test_live_segmentation_decodes_finals_greedily():
    assert ServerConfig.from_args([]).final_beam_size == 1


def test_accurate_segmentation_cuts_only_at_long_pauses_or_28_seconds():
    config = ServerConfig.from_args(["--segmentation", "accurate"])
    assert cuts(config) == (1.5, 0.0, 28.0)
    assert config.segmentation_settings() == SEGMENTATION_PRESETS["accurate"]


def test_accurate_segmentation_decodes_finals_with_beam_5_as_offline_whisper():
    assert ServerConfig.from_args(["--segmentation", "accurate"]).final_beam_size == 5
    assert ServerConfig.from_args(["--segmentation", "accurate", "--final-beam-size", "2"]).final_beam_size == 2


def test_a_flag_given_explicitly_wins_over_the_preset(monkeypatch):
    assert cuts(ServerConfig.from_args(["--segmentation", "accurate", "--min-silence=1.0"])) == (1.0, 0.0, 28.0)
    assert cuts(ServerConfig.from_args(["--segmentation", "accurate", "--min-silence", "0.5"])) == (0.5, 0.0, 28.0)
    assert cuts(ServerConfig.from_args(["--max-utterance", "20", "--segmentation", "accurate"])) == (1.5, 0.0, 20.0)
    monkeypatch.setenv("ASR_SENTENCE_END_SILENCE", "0.3")
    assert cuts(ServerConfig.from_args(["--segmentation", "accurate"])) == (1.5, 0.3, 28.0)


def test_the_preset_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ASR_SEGMENTATION", "accurate")
    assert cuts(ServerConfig.from_args([])) == (1.5, 0.0, 28.0)


def session(server: ServerConfig, **config) -> SessionSettings:
    settings, _ = settings_from_config(asr_pb2.StreamingConfig(**config), server)
    return settings


def test_a_session_that_names_no_segmentation_gets_the_servers():
    live, accurate = ServerConfig.from_args([]), ServerConfig.from_args(["--segmentation", "accurate"])
    assert (session(live).segmentation, session(live).vad.min_silence) == ("live", 0.5)
    assert (session(accurate).segmentation, session(accurate).vad.min_silence) == ("accurate", 1.5)


def test_a_session_may_choose_the_other_segmentation():
    live, accurate = ServerConfig.from_args([]), ServerConfig.from_args(["--segmentation", "accurate"])
    chosen = session(live, segmentation=asr_pb2.SEGMENTATION_ACCURATE)
    assert (chosen.segmentation, chosen.vad.min_silence) == ("accurate", 1.5)
    chosen = session(accurate, segmentation=asr_pb2.SEGMENTATION_LIVE)
    assert (chosen.segmentation, chosen.vad.min_silence) == ("live", 0.5)


def test_the_servers_own_endpointing_flags_hold_for_sessions_of_its_segmentation():
    tuned = ServerConfig.from_args(["--min-silence", "0.8"])
    assert session(tuned, segmentation=asr_pb2.SEGMENTATION_LIVE).vad.min_silence == 0.8
    assert session(tuned, segmentation=asr_pb2.SEGMENTATION_ACCURATE).vad.min_silence == 1.5


def test_a_sessions_own_min_silence_wins_over_its_segmentation():
    chosen = session(ServerConfig.from_args([]), segmentation=asr_pb2.SEGMENTATION_ACCURATE,
                     vad=asr_pb2.VadConfig(min_silence_duration={"nanos": 700_000_000}))
    assert chosen.vad.min_silence == 0.7


def test_session_started_reports_the_segmentation_in_use():
    settings, fmt = settings_from_config(asr_pb2.StreamingConfig(), ServerConfig.from_args([]))
    assert resolved_config(settings, fmt).segmentation == asr_pb2.SEGMENTATION_LIVE


def test_an_unknown_segmentation_is_refused_with_the_field_named():
    with pytest.raises(ApiError) as refused:
        session(ServerConfig.from_args([]), segmentation=7)
    assert refused.value.field_name == "config.segmentation"
    assert "SEGMENTATION_ACCURATE" in refused.value.message


@pytest.mark.parametrize("chosen, expected", [
    ("live", (20.0, 0.3)), ("", (20.0, 0.3)), ("accurate", (28.0, 0.0))])
def test_whisper_cuts_with_the_servers_flags_or_the_chosen_preset(chosen, expected):
    # a live server tuned with --max-utterance 20 --sentence-end-silence 0.3
    engine = WhisperEngine(WhisperOptions(segmentation="live", max_utterance=20.0, sentence_end_silence=0.3))
    assert engine._cuts(SessionSettings("whisper", "tiny.en", segmentation=chosen)) == expected


def resolved_beam(engine: WhisperEngine, chosen: str, beam_size: int = 0) -> int:
    return engine.resolve(SessionSettings("whisper", "tiny.en", segmentation=chosen, beam_size=beam_size)).beam_size


def test_the_beam_of_finals_follows_the_sessions_segmentation():
    # a live server whose operator asked for beam 2
    engine = WhisperEngine(WhisperOptions(segmentation="live", final_beam_size=2))
    assert (resolved_beam(engine, ""), resolved_beam(engine, "live"), resolved_beam(engine, "accurate")) == (2, 2, 5)
    accurate = WhisperEngine(WhisperOptions(segmentation="accurate", final_beam_size=5))
    assert (resolved_beam(accurate, ""), resolved_beam(accurate, "live")) == (5, 1)


def test_a_sessions_own_beam_size_wins_over_its_segmentation():
    engine = WhisperEngine(WhisperOptions(segmentation="live"))
    assert resolved_beam(engine, "accurate", beam_size=3) == 3



def test_partials_keep_their_own_beam_greedy_unless_the_session_sets_partial_beam_size():
    engine = WhisperEngine(WhisperOptions(segmentation="live"))
    for chosen in ("live", "accurate"):
        resolved = engine.resolve(SessionSettings("whisper", "tiny.en", segmentation=chosen))
        assert resolved.partial_beam_size == 1
    resolved = engine.resolve(SessionSettings("whisper", "tiny.en", beam_size=4, partial_beam_size=2))
    assert (resolved.beam_size, resolved.partial_beam_size) == (4, 2)
    with pytest.raises(InvalidSettings) as refused:
        engine.resolve(SessionSettings("whisper", "tiny.en", partial_beam_size=11))
    assert refused.value.field_name == "config.partial_beam_size"
