"""Bridge fixtures: real bridge subprocesses in front of the shared real core (tests/conftest.py)."""
from __future__ import annotations

import pytest

from bridge_helpers import BridgeProcess, start_bridge


@pytest.fixture(scope="module")
def google_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    bridge = start_bridge(tmp_path_factory.mktemp("google"), "google_stt", core_address,
                          "--end-after-silence", "1.5", "--max-message-bytes", "65536")
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def nexa_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    bridge = start_bridge(tmp_path_factory.mktemp("nexa"), "nexa", core_address, "--max-message-bytes", "65536")
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def funasr_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    """English sessions (the test speech is English); the dialect's default language is zh."""
    bridge = start_bridge(tmp_path_factory.mktemp("funasr"), "funasr", core_address, "--max-message-bytes", "131072",
                          "--language", "en")
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def funasr_default_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    """The funasr bridge as `python -m bridges.funasr` starts it: no language, no engine."""
    bridge = start_bridge(tmp_path_factory.mktemp("funasr-default"), "funasr", core_address)
    yield bridge
    bridge.stop()
