"""Debian's Chromium, headless, driven by Playwright's Python package (never a downloaded
browser), with a fake microphone that plays a real recording: the live-captions page's tests
(tests/page/) and its screenshots (tests/page/screenshots.py) use it."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import soundfile
import soxr

from tests.real_speech import load

FAKE_MIC_RATE = 48000  # Chromium's fake capture reads 16-bit PCM WAV at the file's rate
LEAD_SECONDS = 0.5
# What the fake microphone says in the tests: five sentences of a LibriVox reader, 24.7 s, that the
# live default transcribes within one word of 71 on every run measured, clean or over a telephone
# line (docs/accuracy.md).
# Not JFK: its first sentence is a close call for tiny.en ("fellow Americans" / "fell america"),
# and a test must not hinge on which side of it a run falls.
SPOKEN = "sense_and_sensibility"
TRAILING_SILENCE_SECONDS = 3.0  # the last utterance ends in the audio: the server's VAD commits it


def chromium_path() -> str:
    """Debian's chromium (`.ci/run` installs it when missing)."""
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    return path


def fake_microphone_wav(directory: Path, recording: str = SPOKEN, speech: np.ndarray | None = None) -> Path:
    """The recording (or `speech`, 16 kHz, named `recording`) at 48 kHz PCM16 mono with a little
    silence before and some after it."""
    audio = soxr.resample(load(recording).audio if speech is None else speech, 16000, FAKE_MIC_RATE)
    silence = lambda seconds: np.zeros(int(FAKE_MIC_RATE * seconds), np.float32)  # noqa: E731
    path = directory / f"{recording}-48k.wav"
    soundfile.write(path, np.concatenate([silence(LEAD_SECONDS), audio, silence(TRAILING_SILENCE_SECONDS)]),
                    FAKE_MIC_RATE, subtype="PCM_16")
    return path


def launch_args(wav: Path) -> list[str]:
    """The fake microphone plays `wav` once (`%noloop`), then silence; no permission prompt."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"]


@dataclass
class PageWatch:
    """What a page did that it should not: requests to another origin, console errors."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("request", self._request)
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        if f"{scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(request.url)


READY_TIMEOUT_MS = 15_000


def open_page(browser, origin: str, watches: list[PageWatch] | None = None, width: int = 1280, height: int = 900,
              color_scheme: str = "light"):
    """The page at `origin` in a new browser context (its own storage), loaded and wired; its
    PageWatch is added to `watches`."""
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=color_scheme,
                                  accept_downloads=True)
    page = context.new_page()
    watch = PageWatch(origin)
    watch.attach(page)
    if watches is not None:
        watches.append(watch)
    page.goto(origin + "/")
    page.wait_for_selector("html[data-ready=true]", timeout=READY_TIMEOUT_MS)
    return page


def wait_for(page, condition, seconds: float, what: str) -> None:
    """Polls `condition()` every 100 ms until it holds; fails naming `what` after `seconds`."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{what}: not within {seconds:g} s (status: {page.text_content('#status')!r}, "
                         f"alert: {page.text_content('#alert')!r})")


def finals(page) -> list[dict[str, str]]:
    """The transcript's finals as shown: time, text, latency, speaker ("" unless labelled)."""
    return page.eval_on_selector_all("#finals li", """items => items.map(li => ({
        time: li.querySelector('time').textContent, text: li.querySelector('.text').textContent,
        latency: li.querySelector('.latency')?.textContent ?? '', speaker: li.dataset.speaker ?? ''}))""")


def download(page, button: str) -> str:
    """The text of the file the page downloads when `button` is clicked."""
    with page.expect_download() as info:
        page.click(button)
    return open(info.value.path(), encoding="utf-8").read()
