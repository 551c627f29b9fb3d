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
TRAILING_SILENCE_SECONDS = 3.0  # the last utterance ends in the audio: the server's VAD commits it


def chromium_path() -> str:
    """Debian's chromium (`.ci/run` installs it when missing)."""
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    return path


def fake_microphone_wav(directory: Path, recording: str = "jfk") -> Path:
    """The recording at 48 kHz PCM16 mono with a little silence before and some after it."""
    speech = load(recording)
    audio = soxr.resample(speech.audio, 16000, FAKE_MIC_RATE)
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
