"""The live-captions page's screenshots in docs/images/ (README, docs/page.md), made as the tests
run it: a real core and openai bridge, Debian's Chromium, its fake microphone playing JFK.

    .venv/bin/python -m tests.page.screenshots [--out docs/images]

page-live.png (mid-caption: finals and the partial text still being heard), page-after.png
(after a run and a file's transcript), page-narrow.png (375 px wide), page-dark.png (dark);
page-speakers.png ("Label speakers", the microphone playing a dialogue of two people, and the
same dialogue as a file)."""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.bridges.bridge_helpers import start_bridge
from tests.conftest import ROOT, start_core
from tests.dialogues import kennedy_then_sonnet
from tests.page.browser import chromium_path, fake_microphone_wav, finals, launch_args, open_page, wait_for
from tests.real_speech import REAL

log = logging.getLogger("page_screenshots")
WIDTH, HEIGHT = 1000, 760
NARROW = 375
SETTLE_SECONDS = 14.0  # JFK and the pause after it


def mid_caption(page) -> bool:
    return page.is_visible("#partial") and len(finals(page)) >= 1


def shoot(page, out: Path) -> None:
    page.click("#start")
    wait_for(page, lambda: mid_caption(page), 30, "a final and partial text")
    page.screenshot(path=out / "page-live.png")
    started = time.monotonic()
    wait_for(page, lambda: time.monotonic() - started > SETTLE_SECONDS and not page.is_visible("#partial"), 40,
             "the last final")
    page.click("#stop")
    wait_for(page, lambda: page.is_enabled("#start"), 10, "Start enabled again")
    page.set_input_files("#file", str(REAL / "jfk.flac"))
    wait_for(page, lambda: page.text_content("#file-status").endswith("done."), 60, "the file's transcript")
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=out / "page-after.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=out / "page-dark.png")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": NARROW, "height": 800})
    page.screenshot(path=out / "page-narrow.png")


def shoot_speakers(page, wav: Path, out: Path) -> None:
    page.check("#speakers")
    page.click("#start")
    started = time.monotonic()
    wait_for(page, lambda: time.monotonic() - started > SETTLE_SECONDS and not page.is_visible("#partial"), 40,
             "the last final")
    page.click("#stop")
    wait_for(page, lambda: page.is_enabled("#start"), 10, "Start enabled again")
    page.set_input_files("#file", str(wav))
    wait_for(page, lambda: page.text_content("#file-status").endswith("done."), 60, "the file's transcript")
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=out / "page-speakers.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        core = start_core(directory)
        bridge = start_bridge(directory, "openai", core.address)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                     args=launch_args(fake_microphone_wav(directory, "jfk")))
                shoot(open_page(browser, f"http://127.0.0.1:{bridge.port}", width=WIDTH, height=HEIGHT), args.out)
                browser.close()
                wav = fake_microphone_wav(directory, "dialogue", kennedy_then_sonnet().audio)
                browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                     args=launch_args(wav))
                shoot_speakers(open_page(browser, f"http://127.0.0.1:{bridge.port}", width=WIDTH, height=HEIGHT),
                               wav, args.out)
                browser.close()
        finally:
            bridge.stop()
            core.stop()
    log.info("screenshots in %s", args.out)


if __name__ == "__main__":
    main()
