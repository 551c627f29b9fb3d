"""The live-captions page's "Label speakers" (docs/page.md), its fake microphone playing a
dialogue of two real people (tests/dialogues.py: Kennedy, then the sonnets' reader): each final
line shows its speaker as a letter and a colour, the downloads carry the labels, and a file is
transcribed with its speakers (`diarized_json`)."""
from __future__ import annotations

import re
from itertools import groupby
from typing import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.dialogues import kennedy_then_sonnet
from tests.page.browser import (chromium_path, download, fake_microphone_wav, finals, launch_args, open_page,
                                wait_for)
from tests.page.conftest import origin_of

SETTLE_SECONDS = 60.0  # the dialogue (11 s), the pause that ends its last turn, a busy core


@pytest.fixture(scope="module")
def dialogue_wav(tmp_path_factory):
    return fake_microphone_wav(tmp_path_factory.mktemp("dialogue-mic"), "dialogue", kennedy_then_sonnet().audio)


@pytest.fixture(scope="module")
def browser(dialogue_wav) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=launch_args(dialogue_wav))
        yield browser
        browser.close()


def shown_speakers(page, selector: str) -> list[tuple[str, str, str]]:
    """(label, badge text, colour of the line's edge) of each line."""
    return page.eval_on_selector_all(selector, """lines => lines.map(line => [line.dataset.speaker,
        line.querySelector('.speaker').textContent, getComputedStyle(line).borderLeftColor])""")


def test_label_speakers_shows_each_persons_letter_and_colour_live_and_in_a_file(browser, page_bridge, watches,
                                                                                 dialogue_wav):
    page = open_page(browser, origin_of(page_bridge), watches)
    page.check("#speakers")
    page.click("#start")
    wait_for(page, lambda: {f["speaker"] for f in finals(page)} >= {"A", "B"} and not page.is_visible("#partial"),
             SETTLE_SECONDS, "finals of two speakers")
    page.click("#stop")
    wait_for(page, lambda: page.is_enabled("#start"), 10, "Start enabled again after Stop")
    lines = shown_speakers(page, "#finals li")
    assert [label for label, _, _ in lines][0] == "A" and {label for label, _, _ in lines} == {"A", "B"}, lines
    assert all(badge == f"Speaker {label}" for label, badge, _ in lines)  # "Speaker " is for screen readers
    colours = {label: colour for label, _, colour in lines}
    assert len(set(colours.values())) == 2, colours  # a colour beside the letter, never instead of it
    shown = finals(page)
    vtt, txt = download(page, "#download-vtt"), download(page, "#download-txt")
    assert sorted(re.findall(r"<v (\w+)>", vtt)) == sorted(f["speaker"] for f in shown), vtt
    assert txt.splitlines() == [f"[{f['time']}] {f['speaker']}: {f['text']}" for f in shown]

    page.set_input_files("#file", str(dialogue_wav))
    wait_for(page, lambda: page.text_content("#file-status").endswith("done."), 60, "the file's transcript")
    file_lines = shown_speakers(page, "#file-text .file-line")  # a line per final's speaker run
    assert [label for label, _ in groupby(label for label, _, _ in file_lines)] == ["A", "B"], file_lines
    page.context.close()
    assert not watches[-1].errors and not watches[-1].foreign, watches[-1]
