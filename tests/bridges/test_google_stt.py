"""google-stt bridge end to end: the document's own client, bad input, a parallel healthy session."""
from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
import websockets

from bridge_helpers import answered_with_errors, recv_all, recv_json, start_bridge
from tests.audio_fixtures import PARAGRAPH, UTTERANCES, silence, speech, to_pcm16, wer, with_pauses

PATH = "/ws/asr-stream"
CHUNK = 4096  # the document's chunk_size
PACE = 0.04  # the document sleeps 0.1 s per 4096-byte (128 ms) chunk; we go ~3x real time


async def doc_client(url: str, config: dict, pcm: bytes) -> tuple[dict, list[dict]]:
    """The document's Python client: config, wait for ack, chunks with a sleep, then read until complete."""
    async with websockets.connect(url) as websocket:
        await websocket.send(json.dumps(config))
        ack = json.loads(await websocket.recv())
        for i in range(0, len(pcm), CHUNK):
            await websocket.send(pcm[i:i + CHUNK])
            await asyncio.sleep(PACE)
        messages = []
        while True:
            message = json.loads(await asyncio.wait_for(websocket.recv(), 60))
            messages.append(message)
            if message["type"] == "complete":
                break
        return ack, messages


def check_transcripts(messages: list[dict]) -> list[dict]:
    transcripts = [m for m in messages if m["type"] == "transcript"]
    for m in transcripts:
        assert set(m) == {"type", "text", "is_final", "confidence"}, m
        assert isinstance(m["text"], str) and m["text"].strip()
        assert isinstance(m["is_final"], bool)
        assert isinstance(m["confidence"], float) and 0.0 <= m["confidence"] <= 1.0
    assert messages[-1] == {"type": "complete"}
    assert not [m for m in messages if m["type"] == "error"], messages
    return transcripts


async def test_document_client_en_us_paragraph(google_bridge):
    pcm = to_pcm16(np.concatenate([silence(0.3), speech(PARAGRAPH), silence(0.5)]))
    config = {"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}
    ack, messages = await doc_client(google_bridge.url(PATH), config, pcm)
    assert ack == {"type": "metadata", "status": "ready", "language_code": "en-US",
                   "sample_rate_hertz": 16000, "encoding": "LINEAR16", "end_after_silence_seconds": 1.5,
                   "end_message": {"type": "end"}}
    transcripts = check_transcripts(messages)
    finals = [m["text"] for m in transcripts if m["is_final"]]
    assert finals, messages
    assert any(not m["is_final"] for m in transcripts), "interim results are on by default"
    text = " ".join(finals)
    assert wer(PARAGRAPH, text) <= 0.15, text
    assert any(ch in text for ch in ".,?!"), f"automatic punctuation is on by default: {text!r}"
    assert all(m["confidence"] > 0 for m in transcripts if m["is_final"])


async def test_document_client_default_arabic_config(google_bridge):
    """The document's own config (ar-EG) must work: it is routed to the multilingual model."""
    pcm = to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(0.3)]))
    config = {"language_code": "ar-EG", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}
    ack, messages = await doc_client(google_bridge.url(PATH), config, pcm)
    assert ack["status"] == "ready" and ack["language_code"] == "ar-EG"
    transcripts = check_transcripts(messages)
    assert [m for m in transcripts if m["is_final"]], messages


async def test_empty_config_takes_documented_defaults_and_explicit_end(google_bridge):
    async with websockets.connect(google_bridge.url(PATH)) as ws:
        await ws.send("{}")
        assert await recv_json(ws) == {"type": "metadata", "status": "ready", "language_code": "ar-EG",
                                       "sample_rate_hertz": 16000, "encoding": "LINEAR16",
                                       "end_after_silence_seconds": 1.5, "end_message": {"type": "end"}}
        await ws.send(to_pcm16(silence(0.5)))
        await ws.send(json.dumps({"type": "end"}))
        assert (await recv_all(ws))[-1] == {"type": "complete"}


async def bad_config(url: str, frame: str | bytes) -> tuple[dict, int | None]:
    async with websockets.connect(url) as ws:
        await ws.send(frame)
        error = await recv_json(ws)
        rest = await recv_all(ws, timeout=30)
        assert rest == [{"type": "complete"}], rest  # the document's client waits for complete
        return error, ws.close_code


async def healthy_session(url: str) -> str:
    audio, _ = with_pauses(UTTERANCES, pause=1.0, lead=0.3)
    pcm = to_pcm16(audio)
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"language_code": "en-US"}))
        assert (await recv_json(ws))["status"] == "ready"
        for i in range(0, len(pcm), CHUNK):
            await ws.send(pcm[i:i + CHUNK])
            await asyncio.sleep(PACE)
        await ws.send(json.dumps({"type": "end"}))
        messages = await recv_all(ws)
    transcripts = check_transcripts(messages)
    return " ".join(m["text"] for m in transcripts if m["is_final"])


async def test_bad_input_gets_errors_while_a_parallel_session_completes(google_bridge):
    url = google_bridge.url(PATH)
    healthy = asyncio.create_task(healthy_session(url))

    cases = {
        "not json": "{language_code: en-US",
        "not an object": "[1, 2]",
        "wrong type": json.dumps({"language_code": "en-US", "sample_rate_hertz": "16000"}),
        "bool as int": json.dumps({"sample_rate_hertz": True}),
        "missing (null)": json.dumps({"language_code": None}),
        "missing (empty)": json.dumps({"language_code": ""}),
        "bad rate": json.dumps({"sample_rate_hertz": 100}),
        "unsupported encoding": json.dumps({"language_code": "en-US", "encoding": "MP3"}),
        "binary before config": b"\x00\x01" * 100,
    }
    for name, frame in cases.items():
        error, code = await bad_config(url, frame)
        assert set(error) == {"type", "detail"} and error["type"] == "error", (name, error)
        assert code == 1008, (name, code)
    details = {name: (await bad_config(url, frame))[0]["detail"] for name, frame in list(cases.items())[:7]}
    assert "JSON" in details["not json"] and "sample_rate_hertz" in details["wrong type"]
    assert "missing" in details["missing (null)"]

    # Unknown language: rejected by the core's engine, relayed as the dialect's error, then
    # complete: the document's client, reading until complete, ends normally.
    config = {"language_code": "xx-QQ", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}
    ack, messages = await doc_client(url, config, b"")
    assert ack["type"] == "error" and "language" in ack["detail"] and messages == [{"type": "complete"}], ack

    # In-stream mistakes are reported and the session carries on.
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"language_code": "en-US"}))
        assert (await recv_json(ws))["type"] == "metadata"
        await answered_with_errors(ws, "detail", [
            (b"\x00" * 65537, "exceeds"),  # over this bridge's 64 KiB limit
            (b"\x00" * 4095, "16-bit"), (json.dumps({"type": "pause"}), "unknown message"), ("not json", "")])
        await ws.send(to_pcm16(speech(UTTERANCES[1])))
        await ws.send(json.dumps({"action": "stop"}))
        messages = await recv_all(ws)
        assert messages[-1] == {"type": "complete"}
        assert wer(UTTERANCES[1], " ".join(m["text"] for m in messages if m.get("is_final"))) <= 0.15

    # A client that vanishes mid-stream.
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"language_code": "en-US"}))
    await recv_json(ws)
    await ws.send(to_pcm16(speech(UTTERANCES[0]))[:32000])
    ws.transport.abort()

    text = await asyncio.wait_for(healthy, 120)
    assert wer(" ".join(UTTERANCES), text) <= 0.15, text
    await asyncio.sleep(0.5)
    log = google_bridge.log()
    assert "client closed" in log or "client vanished" in log


async def test_automatic_punctuation_off_gives_unpunctuated_transcripts(core_address, tmp_path):
    """ENABLE_AUTOMATIC_PUNCTUATION=false (the document's setting) through the document's client."""
    bridge = start_bridge(tmp_path, "google_stt", core_address, "--no-automatic-punctuation",
                          "--end-after-silence", "1.5")
    try:
        pcm = to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[1]), silence(0.5)]))
        config = {"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}
        ack, messages = await doc_client(bridge.url(PATH), config, pcm)
        assert ack["status"] == "ready"
        transcripts = check_transcripts(messages)
        text = " ".join(m["text"] for m in transcripts if m["is_final"])
        assert wer(UTTERANCES[1], text) <= 0.15, text
        assert not any(ch in m["text"] for m in transcripts for ch in ".,?!;:"), transcripts
    finally:
        bridge.stop()


@pytest.fixture(scope="module")
def google_as_documented(core_address, tmp_path_factory):
    """`LOG_LEVEL=debug python run.py`: the bridge with its defaults and the document's variable."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOG_LEVEL", "debug")
        bridge = start_bridge(tmp_path_factory.mktemp("google-documented"), "google_stt", core_address)
    yield bridge
    bridge.stop()


async def test_log_level_from_the_environment_as_the_document_runs_it(google_as_documented, google_bridge):
    async with websockets.connect(google_as_documented.url(PATH)) as ws:
        await ws.send(json.dumps({"language_code": "en-US"}))
        assert (await recv_json(ws))["type"] == "metadata"
    await asyncio.sleep(0.5)
    assert " DEBUG " in google_as_documented.log()
    assert " DEBUG " not in google_bridge.log()  # without LOG_LEVEL: INFO, as before


async def test_a_speaker_who_pauses_keeps_the_session(google_as_documented):
    """A live client that sends only while someone speaks (or whose network stalls) pauses
    sending for a few seconds: the stream is not ended (complete) under it. The metadata says
    when it would end; what was said before the pause is transcribed during the pause."""
    first, second = (to_pcm16(np.concatenate([speech(text), silence(0.2)])) for text in UTTERANCES[:2])
    async with websockets.connect(google_as_documented.url(PATH)) as ws:
        await ws.send(json.dumps({"language_code": "en-US"}))
        ack = await recv_json(ws)
        assert ack["end_after_silence_seconds"] == 10.0 and ack["end_message"] == {"type": "end"}, ack
        for pcm in (first, second):
            for i in range(0, len(pcm), CHUNK):
                await ws.send(pcm[i:i + CHUNK])
                await asyncio.sleep(0.1)  # the document's pace
            if pcm is first:  # a 5 s pause in sending: the first sentence arrives meanwhile
                pause_ends = time.monotonic() + 5.0
                during_pause = []
                while (left := pause_ends - time.monotonic()) > 0:
                    try:
                        during_pause.append(await recv_json(ws, left))
                    except asyncio.TimeoutError:
                        break
                assert {"type": "complete"} not in during_pause, during_pause
                finals = [m["text"] for m in during_pause if m.get("is_final")]
                assert wer(UTTERANCES[0], " ".join(finals)) <= 0.15, during_pause
        await ws.send(json.dumps({"type": "end"}))
        after = await recv_all(ws)
    assert after[-1] == {"type": "complete"} and not [m for m in after if m["type"] == "error"], after
    assert wer(UTTERANCES[1], " ".join(m["text"] for m in after if m.get("is_final"))) <= 0.15, after
