"""The live-captions page (docs/page.md) in Debian's Chromium, its fake microphone playing a real
speaker (browser.SPOKEN), against the openai bridge and the real core: what a person sees, checked as they would.

One captioned run (started from the keyboard, stopped with the button) is shared by the tests
of what it shows; the others open their own page."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest
from websockets.sync.client import connect

from tests.bridges.bridge_helpers import start_bridge
from tests.page.browser import LEAD_SECONDS, SPOKEN, download, finals, open_page, wait_for
from tests.page.conftest import origin_of, realtime_session_ends
from tests.real_speech import REAL, load, real_wer
from tests.security_helpers import KEYS_TOML, WEB as WEB_KEY

SPEECH_SECONDS = LEAD_SECONDS + load(SPOKEN).seconds + 1.0  # the lead, the speech, the server VAD's pause
RUN_DEADLINE_SECONDS = 75.0
MAX_TABS_TO_START = 3  # Start is the first control
MAX_WER = 0.15  # the usual bound through the bridges (tests/bridges/transport_helpers.py)
WRONG_KEY = "not-a-key-0000"


def assert_spoken(text: str) -> None:
    assert real_wer(load(SPOKEN).transcript, text) <= MAX_WER, text


@dataclass
class CaptionedRun:
    tabs_to_start: int = 0
    focus_outline: str = ""  # the focused Start button's outline
    settings_locked: bool = False  # the settings fields, while listening
    partial: str = ""  # the first partial text shown (open items only: before their final)
    partial_style: dict[str, str] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    finals: list[dict[str, str]] = field(default_factory=list)
    downloads: dict[str, str] = field(default_factory=dict)
    clipboard: str = ""
    session_ends: list[str] = field(default_factory=list)


def tab_to_start(page) -> int:
    for presses in range(1, 10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "start":
            return presses
    raise AssertionError("Tab never reached the Start button")


def watch_captions(page, run: CaptionedRun) -> None:
    """Until the speech is over and nothing is partial: the partial text and the statuses."""
    started = time.monotonic()
    while time.monotonic() - started < RUN_DEADLINE_SECONDS:
        status = page.text_content("#status")
        if not run.statuses or run.statuses[-1] != status:
            run.statuses.append(status)
        partial = page.text_content("#partial-text") if page.is_visible("#partial") else ""
        if partial and not run.partial:
            run.partial = partial
            run.partial_style = page.eval_on_selector("#partial", """p => ({
                fontStyle: getComputedStyle(p).fontStyle, label: p.querySelector('.partial-label').textContent,
                finalStyle: getComputedStyle(document.querySelector('#finals')).fontStyle})""")
        if time.monotonic() - started > SPEECH_SECONDS and not partial and finals(page):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the captions did not settle in {RUN_DEADLINE_SECONDS:g} s: {finals(page)}")


@pytest.fixture(scope="module")
def captioned_run(browser, page_bridge, watches) -> CaptionedRun:
    page = open_page(browser, origin_of(page_bridge), watches)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin_of(page_bridge))
    run = CaptionedRun(tabs_to_start=tab_to_start(page))
    run.focus_outline = page.evaluate("getComputedStyle(document.activeElement).outline")
    page.keyboard.press("Enter")
    wait_for(page, lambda: page.text_content("#status") == "Listening", 20, "listening")
    run.settings_locked = all(page.is_disabled(f"#{name}") for name in ("model", "language", "prompt", "key"))
    watch_captions(page, run)
    page.click("#stop")
    wait_for(page, lambda: page.is_enabled("#start"), 10, "Start enabled again after Stop")
    run.statuses.append(page.text_content("#status"))
    run.finals = finals(page)
    run.downloads = {kind: download(page, f"#download-{kind}") for kind in ("txt", "srt", "vtt")}
    page.click("#copy")
    run.clipboard = page.evaluate("navigator.clipboard.readText()")
    wait_for(page, lambda: realtime_session_ends(page_bridge), 10, "the bridge's session_end line")
    run.session_ends = realtime_session_ends(page_bridge)
    page.context.close()
    return run


def test_tab_reaches_start_and_enter_starts_listening(captioned_run):
    assert captioned_run.tabs_to_start <= MAX_TABS_TO_START
    assert "Listening" in captioned_run.statuses, captioned_run.statuses


def test_the_focused_control_shows_a_visible_ring(captioned_run):
    assert re.match(r"rgb\(\d+, \d+, \d+\) solid 3px", captioned_run.focus_outline), captioned_run.focus_outline


def test_settings_are_fixed_while_listening(captioned_run):
    assert captioned_run.settings_locked


def test_partial_text_appears_before_its_final_and_looks_different(captioned_run):
    assert captioned_run.partial, "no partial text was shown"
    style = captioned_run.partial_style
    assert style["fontStyle"] == "italic" and style["finalStyle"] == "normal", style
    assert style["label"] == "Hearing…"  # words as well as style: not colour alone


def test_finals_accumulate_with_times_and_latency_and_match_the_speech(captioned_run):
    shown = captioned_run.finals
    assert len(shown) >= 2, shown
    assert_spoken(" ".join(f["text"] for f in shown))
    times = [f["time"] for f in shown]
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in times) and times == sorted(times), times
    assert times[-1] > times[0]  # the phrases are seconds apart
    assert all(re.fullmatch(r"\d+\.\d s", f["latency"]) for f in shown), shown


def test_stop_ends_the_session_cleanly(captioned_run):
    assert captioned_run.statuses[-1].startswith("Stopped."), captioned_run.statuses
    [end] = captioned_run.session_ends
    assert "errors=0" in end and "close=client" in end and "(1000)" in end, end


def test_downloads_are_the_finals_as_txt_srt_and_vtt(captioned_run):
    texts = [f["text"] for f in captioned_run.finals]
    txt, srt, vtt = (captioned_run.downloads[k] for k in ("txt", "srt", "vtt"))
    assert txt.splitlines() == [f"[{f['time']}] {f['text']}" for f in captioned_run.finals]
    cues = re.findall(r"(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)\n", srt)
    assert [c[3] for c in cues] == texts and [c[0] for c in cues] == [str(i + 1) for i in range(len(texts))], srt
    assert all(start < end for _, start, end, _ in cues), srt
    assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(texts)
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n" + re.escape(texts[0]), vtt), vtt


def test_copy_puts_the_transcript_on_the_clipboard(captioned_run):
    assert captioned_run.clipboard == "\n".join(f["text"] for f in captioned_run.finals)


def test_a_chosen_file_is_transcribed_as_it_streams(browser, page_bridge, watches):
    page = open_page(browser, origin_of(page_bridge), watches)
    page.evaluate("""() => { window.shownTexts = [];
        new MutationObserver(() => shownTexts.push(document.getElementById('file-text').textContent))
            .observe(document.getElementById('file-text'), {childList: true, characterData: true, subtree: true}); }""")
    page.set_input_files("#file", str(REAL / f"{SPOKEN}.flac"))
    wait_for(page, lambda: page.text_content("#file-status").endswith("done."), 60, "the file's transcript")
    text = page.text_content("#file-text")
    assert_spoken(text)
    streamed = [shown for shown in page.evaluate("shownTexts") if shown and shown != text]
    assert streamed and all(text.startswith(shown.strip()) for shown in streamed), streamed  # deltas first
    page.context.close()


def test_the_model_picker_lists_the_servers_models(browser, page_bridge, watches):
    page = open_page(browser, origin_of(page_bridge), watches)
    wait_for(page, lambda: page.locator("#model option").count() > 1, 10, "the models of GET /v1/models")
    values = page.eval_on_selector_all("#model option", "options => options.map(o => o.value)")
    assert values[0] == "whisper-1" and all("/" in v for v in values[1:]), values
    languages = page.eval_on_selector_all("#language option", "options => options.map(o => o.value)")
    assert languages[0] == "" and "en" in languages
    page.context.close()


@pytest.mark.parametrize("width", [320, 375, 640])  # phones; a 1280-px window at 200% zoom
def test_a_narrow_window_needs_no_horizontal_scrolling(browser, page_bridge, watches, width):
    page = open_page(browser, origin_of(page_bridge), watches, width=width, height=800)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px wider than a {width}-px window"
    assert page.is_visible("#start") and page.is_visible("#stop")
    page.context.close()


def test_at_200_percent_zoom_nothing_is_cut_off(browser, page_bridge, watches):
    """200 % zoom of a 1280-px window is a 640-CSS-px viewport drawn at twice the pixels."""
    context = browser.new_context(viewport={"width": 640, "height": 450}, device_scale_factor=2)
    page = context.new_page()
    page.goto(origin_of(page_bridge) + "/")
    page.wait_for_selector("html[data-ready=true]")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0 and page.is_visible("#start")
    context.close()


def luminance(css_color: str) -> float:
    """WCAG relative luminance of an `rgb(...)`/`rgba(...)` computed colour."""
    channels = [int(v) / 255 for v in re.findall(r"\d+", css_color)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_follows_the_systems_light_or_dark_scheme(browser, page_bridge, watches, scheme):
    page = open_page(browser, origin_of(page_bridge), watches, color_scheme=scheme)
    text, background = page.evaluate("""[getComputedStyle(document.body).color,
        getComputedStyle(document.body).backgroundColor]""")
    page.context.close()
    fore, back = luminance(text), luminance(background)
    assert (back < 0.2) == (scheme == "dark"), (scheme, background)
    assert (max(fore, back) + 0.05) / (min(fore, back) + 0.05) >= 4.5, (text, background)


def test_every_control_has_a_label(browser, page_bridge, watches):
    page = open_page(browser, origin_of(page_bridge), watches)
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea, button')]
        .filter(c => !(c.labels?.length || c.getAttribute('aria-label') || c.textContent.trim()))
        .map(c => c.id)""")
    assert unlabelled == []
    assert page.get_attribute("#finals", "aria-live") == "polite"
    assert page.get_attribute("#partial", "aria-live") is None  # partials are not announced
    page.context.close()


def test_a_denied_microphone_says_how_to_allow_it(browser, page_bridge, watches):
    page = open_page(browser, origin_of(page_bridge), watches)
    page.evaluate("""() => { navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); }""")
    page.click("#start")
    wait_for(page, lambda: page.is_visible("#alert"), 10, "the microphone message")
    assert "Microphone access was denied" in page.text_content("#alert")
    assert page.is_enabled("#start") and not page.is_enabled("#stop")
    page.context.close()


def test_a_lost_connection_reconnects_by_itself_and_keeps_the_transcript(browser, page_bridge, watches):
    page = open_page(browser, origin_of(page_bridge), watches)
    routes = []

    def route(socket) -> None:  # the page's sockets pass through the test, which can drop them
        socket.connect_to_server()
        routes.append(socket)
    page.route_web_socket(re.compile(r".*/v1/realtime.*"), route)
    page.reload()  # the routing is installed as the page loads
    page.wait_for_selector("html[data-ready=true]")
    page.click("#start")
    wait_for(page, lambda: finals(page), 30, "a first final")
    kept = finals(page)
    routes[0].close(code=1011, reason="the test drops the connection")
    wait_for(page, lambda: "Reconnecting in" in page.text_content("#status"), 10, "the reconnecting message")
    assert "the transcript is kept" in page.text_content("#status")
    wait_for(page, lambda: len(routes) == 2 and page.text_content("#status") == "Listening", 10, "listening again")
    assert finals(page)[:len(kept)] == kept
    page.click("#stop")
    page.context.close()


@pytest.fixture(scope="module")
def keyed_bridge(core_address, tmp_path_factory):
    """A bridge that wants API keys and takes one connection at a time."""
    directory = tmp_path_factory.mktemp("keyed-bridge")
    keys = directory / "keys.toml"
    keys.write_text(KEYS_TOML)
    bridge = start_bridge(directory, "openai", core_address, "--api-keys", str(keys),
                          "--max-connections", "1")
    yield bridge
    bridge.stop()


def test_a_refused_key_says_so(browser, keyed_bridge):
    page = open_page(browser, origin_of(keyed_bridge))  # the browser logs its refused requests itself
    wait_for(page, lambda: page.is_visible("#alert"), 10, "the key needed message")
    assert "needs an API key" in page.text_content("#alert")
    page.fill("#key", WRONG_KEY)
    page.click("#start")
    wait_for(page, lambda: "refused" in page.text_content("#alert"), 20, "the refused key message")
    assert "The API key was refused" in page.text_content("#alert")
    assert page.evaluate("document.activeElement.id") == "key"
    page.context.close()


def test_a_busy_server_says_when_it_retries(browser, keyed_bridge):
    url = f"ws://127.0.0.1:{keyed_bridge.port}/v1/realtime?intent=transcription&api_key={WEB_KEY}"
    with connect(url) as held:  # the bridge's one connection
        held.recv(timeout=10)
        page = open_page(browser, origin_of(keyed_bridge))
        page.fill("#key", WEB_KEY)
        page.click("#start")
        wait_for(page, lambda: "busy" in page.text_content("#status"), 20, "the busy message")
        assert re.search(r"The server is busy\. Trying again in \d+ s", page.text_content("#status"))
        page.click("#stop")
        page.context.close()


def test_no_request_leaves_for_another_origin(captioned_run, watches):
    assert watches and all(not w.foreign for w in watches), [w.foreign for w in watches]


def test_no_console_errors(captioned_run, watches):
    assert watches and all(not w.errors for w in watches), [w.errors for w in watches]


RESAMPLE_PROBE = """async ([frequency, rate]) => {
    const context = new OfflineAudioContext(1, Math.round(rate * 1.05), rate);  // a second and a bit
    await context.audioWorklet.addModule('capture-worklet.js');
    const tone = new OscillatorNode(context, {frequency});
    const node = new AudioWorkletNode(context, 'capture-24k');
    const chunks = [];
    node.port.onmessage = ({data}) => chunks.push(new Int16Array(data.pcm));
    tone.connect(node).connect(context.destination);
    tone.start();
    await context.startRendering();
    await new Promise(resolve => setTimeout(resolve, 200));  // the last messages
    const samples = chunks.flatMap(c => [...c]).slice(2400);  // past the filter's start
    const rms = Math.sqrt(samples.reduce((sum, s) => sum + (s / 32768) ** 2, 0) / samples.length);
    let crossings = 0;
    for (let i = 1; i < samples.length; i++) if ((samples[i - 1] < 0) !== (samples[i] < 0)) crossings++;
    return {count: chunks.length, rms, frequency: crossings / 2 / (samples.length / 24000)};
}"""


@pytest.mark.parametrize("rate", [48000, 44100])
def test_the_worklet_resamples_to_24khz_and_filters_what_24khz_cannot_carry(browser, page_bridge, rate):
    page = open_page(browser, origin_of(page_bridge))
    speech_band = page.evaluate(RESAMPLE_PROBE, [1000, rate])
    alias = page.evaluate(RESAMPLE_PROBE, [15000, rate])  # above 12 kHz: it would fold to 9 kHz
    page.context.close()
    assert speech_band["count"] == 10  # 100 ms chunks of 24 kHz samples: 1.05 s of audio
    assert abs(speech_band["frequency"] - 1000) < 5, speech_band
    assert abs(speech_band["rms"] - 0.7071) < 0.02, speech_band  # a full-scale sine, unchanged
    assert alias["rms"] < 0.7071 / 100, alias  # at least 40 dB down
