"""`python -m core_service` flags: `--segmentation accurate` is a preset of three flags, and
a flag given explicitly (or its ASR_* variable) wins over the preset."""
from __future__ import annotations

from core_service.config import ACCURATE_SEGMENTATION, ServerConfig


def cuts(config: ServerConfig) -> tuple[float, float, float]:
    return config.min_silence, config.sentence_end_silence, config.max_utterance


def test_live_segmentation_is_the_default_cut_at_short_pauses_and_sentence_ends():
    assert ServerConfig.from_args([]).segmentation == "live"
    assert cuts(ServerConfig.from_args([])) == (0.5, 0.2, 15.0)


def test_accurate_segmentation_cuts_only_at_long_pauses_or_28_seconds():
    config = ServerConfig.from_args(["--segmentation", "accurate"])
    assert cuts(config) == (1.5, 0.0, 28.0) == tuple(ACCURATE_SEGMENTATION.values())


def test_a_flag_given_explicitly_wins_over_the_preset(monkeypatch):
    assert cuts(ServerConfig.from_args(["--segmentation", "accurate", "--min-silence=1.0"])) == (1.0, 0.0, 28.0)
    assert cuts(ServerConfig.from_args(["--max-utterance", "20", "--segmentation", "accurate"])) == (1.5, 0.0, 20.0)
    monkeypatch.setenv("ASR_SENTENCE_END_SILENCE", "0.3")
    assert cuts(ServerConfig.from_args(["--segmentation", "accurate"])) == (1.5, 0.3, 28.0)


def test_the_preset_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ASR_SEGMENTATION", "accurate")
    assert cuts(ServerConfig.from_args([])) == (1.5, 0.0, 28.0)
