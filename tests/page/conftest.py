"""The live-captions page's fixtures: one Debian Chromium per module with a fake microphone
playing a real speaker (browser.SPOKEN), and the openai bridge (a real process) in front of the shared real core."""
from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.bridges.bridge_helpers import BridgeProcess, start_bridge
from tests.page.browser import PageWatch, chromium_path, fake_microphone_wav, launch_args


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Browser]:
    wav = fake_microphone_wav(tmp_path_factory.mktemp("fake-mic"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=launch_args(wav))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page_bridge(core_address, tmp_path_factory) -> Iterator[BridgeProcess]:
    bridge = start_bridge(tmp_path_factory.mktemp("page-bridge"), "openai", core_address)
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def watches() -> list[PageWatch]:
    """Every page a module's tests open on a served bridge, for the origin and console checks."""
    return []


def origin_of(bridge: BridgeProcess) -> str:
    return f"http://127.0.0.1:{bridge.port}"


def realtime_session_ends(bridge: BridgeProcess) -> list[str]:
    """The bridge's session_end log lines of its /v1/realtime sessions."""
    lines = bridge.log().splitlines()
    ids = [line.split("session=")[1].split()[0] for line in lines
           if "session_start" in line and "path='/v1/realtime'" in line]
    return [line for line in lines if "session_end" in line and any(f"session={i} " in line for i in ids)]
