"""nexa bridge end to end: the document's own client, bad input, a parallel healthy session."""
from __future__ import annotations

import asyncio
import json
import re
import time

import numpy as np
import websockets

from bridge_helpers import answered_with_errors, assert_words_carry_their_punctuation, recv_all, recv_json, start_bridge
from tests.real_speech import load
from tests.audio_fixtures import PARAGRAPH, UTTERANCES, silence, speech, to_pcm16, wer, with_pauses

PATH = "/v1/audio/stream"
CHUNK_SAMPLES = 8000  # the document's chunk_size: 0.5 s at 16 kHz


async def doc_client(url: str, config: dict, audio: np.ndarray) -> tuple[list[dict], list[dict]]:
    """The document's Python example, then (our addition) reading until the bridge closes, because
    the finals flushed by the stop signal arrive after it."""
    async with websockets.connect(url) as websocket:
        await websocket.send(json.dumps(config))
        audio_int16 = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
        during = []
        for i in range(0, len(audio_int16), CHUNK_SAMPLES):
            chunk = audio_int16[i:i + CHUNK_SAMPLES].tobytes()
            await websocket.send(chunk)
            try:
                response = await asyncio.wait_for(websocket.recv(), timeout=0.1)
                result = json.loads(response)
                assert isinstance(result["text"], str)  # the example prints result['text'] for every message
                during.append(result)
            except asyncio.TimeoutError:
                pass
        await websocket.send(json.dumps({"action": "stop"}))
        after = await recv_all(websocket)
        return during, after


def check_results(messages: list[dict], words: bool = False) -> str:
    now_ms = time.time() * 1000
    for m in messages:
        assert m["type"] in ("partial", "final"), m
        expected = {"type", "text", "confidence", "timestamp", "is_final"} | ({"words"} if words else set())
        assert set(m) == expected, m
        assert m["is_final"] == (m["type"] == "final")
        assert isinstance(m["text"], str) and m["text"]
        assert isinstance(m["confidence"], float) and 0 <= m["confidence"] <= 1
        assert isinstance(m["timestamp"], int) and now_ms - 300_000 < m["timestamp"] <= now_ms + 1000
    timestamps = [m["timestamp"] for m in messages]
    assert timestamps == sorted(timestamps)
    return " ".join(m["text"] for m in messages if m["is_final"])


async def test_document_client_with_default_model(nexa_bridge):
    # no trailing silence: only the stop signal can finalize the last sentence
    audio = np.concatenate([silence(0.3), speech(PARAGRAPH)])
    config = {"model": "NexaAI/parakeet-npu", "language": "en-US", "sample_rate": 16000,
              "enable_partial_results": True}
    during, after = await doc_client(nexa_bridge.url(PATH), config, audio)
    messages = during + after
    text = check_results(messages)
    assert wer(PARAGRAPH, text) <= 0.15, text
    assert any(m["type"] == "partial" for m in messages)
    assert any(m["type"] == "final" for m in after), "stop must flush the last final"


async def test_a_non_english_session_is_served_by_the_model_the_core_picks(nexa_bridge):
    """The bridge passes the client's language and no model; the core picks a multilingual model
    for German (the default English-only one would refuse it), so the session runs to its end."""
    audio = np.concatenate([silence(0.3), speech(UTTERANCES[1]), silence(0.5)])
    config = {"model": "NexaAI/parakeet-npu", "language": "de-DE", "enable_partial_results": False}
    during, after = await doc_client(nexa_bridge.url(PATH), config, audio)
    messages = during + after
    assert not [m for m in messages if m["type"] == "error"], messages
    assert check_results(messages).strip(), "a German session must come back with a transcript"


async def test_word_timestamps_and_every_parameter(nexa_bridge):
    audio, spans = with_pauses(UTTERANCES[:2], pause=1.0, lead=0.4)
    config = {"model": "NexaAI/parakeet-npu", "language": "en-US", "sample_rate": 16000,
              "enable_partial_results": False, "enable_word_timestamps": True, "vad_enabled": True,
              "chunk_duration": 0.4, "overlap_duration": 0.1, "beam_size": 3}
    during, after = await doc_client(nexa_bridge.url(PATH), config, audio)
    messages = during + after
    text = check_results(messages, words=True)
    assert all(m["type"] == "final" for m in messages), "enable_partial_results=false"
    assert wer(" ".join(UTTERANCES[:2]), text) <= 0.15, text
    for m in messages:
        assert m["words"], m
        assert_words_carry_their_punctuation(m["text"], [w["word"] for w in m["words"]])
        starts = [w["start"] for w in m["words"]]
        assert starts == sorted(starts) and all(w["end"] >= w["start"] for w in m["words"])
    first_word = messages[0]["words"][0]
    assert abs(first_word["start"] - spans[0][0]) < 0.6, (first_word, spans)


async def bad_config(url: str, frame: str | bytes) -> tuple[dict, int | None]:
    async with websockets.connect(url) as ws:
        await ws.send(frame)
        error = await recv_json(ws)
        assert await recv_all(ws, timeout=30) == []
        return error, ws.close_code


async def healthy_session(url: str) -> str:
    audio, _ = with_pauses(UTTERANCES, pause=1.0, lead=0.3)
    pcm = to_pcm16(audio)
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({}))
        for i in range(0, len(pcm), 16000):
            await ws.send(pcm[i:i + 16000])
            await asyncio.sleep(0.15)
        await ws.send(json.dumps({"action": "stop"}))
        return check_results(await recv_all(ws))


async def test_bad_input_gets_errors_while_a_parallel_session_completes(nexa_bridge):
    url = nexa_bridge.url(PATH)
    healthy = asyncio.create_task(healthy_session(url))
    cases = {
        "not json": "{model:",
        "wrong type": json.dumps({"sample_rate": "16000"}),
        "bool as int": json.dumps({"beam_size": True}),
        "string bool": json.dumps({"vad_enabled": "yes"}),
        "negative chunk": json.dumps({"chunk_duration": -1}),
        "overlap too long": json.dumps({"chunk_duration": 0.5, "overlap_duration": 0.5}),
        "bad language": json.dumps({"language": "??"}),
        "beam over the engine's range": json.dumps({"beam_size": 12}),
        "binary before config": b"\x00\x00" * 10,
    }
    for name, frame in cases.items():
        error, code = await bad_config(url, frame)
        assert set(error) == {"type", "error"} and error["type"] == "error", (name, error)
        assert code == 1008, (name, code)

    error, code = await bad_config(url, json.dumps({"model": "no-such-model"}))  # refused by the core
    assert error["type"] == "error" and "model" in error["error"] and code == 1008, (error, code)

    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"language": "en-US"}))
        await answered_with_errors(ws, "error", [
            (b"\x00" * 65537, "exceeds"), (b"\x00" * 801, "16-bit"),
            (json.dumps({"action": "pause"}), "unknown control message"), ("[", "")])
        await ws.send(to_pcm16(speech(UTTERANCES[1])))
        await ws.send(json.dumps({"action": "stop", "final": True}))  # extra fields are fine
        assert wer(UTTERANCES[1], check_results(await recv_all(ws))) <= 0.15

    ws = await websockets.connect(url)
    await ws.send(json.dumps({}))
    await ws.send(to_pcm16(speech(UTTERANCES[0]))[:32000])
    ws.transport.abort()

    text = await asyncio.wait_for(healthy, 120)
    assert wer(" ".join(UTTERANCES), text) <= 0.15, text


async def csharp_example(url: str, audio_chunk: bytes) -> tuple[dict, float]:
    """The document's C# example: the configuration, ONE audio chunk, ONE ReceiveAsync, close.
    Returns the message it reads and how long it waited for it."""
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"model": "NexaAI/parakeet-npu", "language": "en-US", "sample_rate": 16000,
                                  "enable_partial_results": True}))
        await ws.send(audio_chunk)
        sent = time.monotonic()
        message = await recv_json(ws, 60)
        return message, time.monotonic() - sent


async def test_the_csharp_example_gets_a_transcript_for_its_one_chunk(nexa_bridge):
    """A single 0.5 s chunk, then nothing: its transcript comes, not an idle error 30 s later."""
    clip = speech("Hello.")
    chunk = to_pcm16(np.concatenate([clip, silence(max(0.0, 0.5 - len(clip) / 16000))]))
    message, waited = await csharp_example(nexa_bridge.url(PATH), chunk)
    assert message["type"] in ("partial", "final") and "hello" in message["text"].lower(), message
    assert waited < 10, waited


async def test_a_whole_file_in_one_message_is_transcribed(core_address, tmp_path):
    """The C# example's GetAudioChunk() may well be a whole file: 11 s of JFK is 352,000 bytes,
    under the documented 4 MiB per message (the bridge as started by default)."""
    jfk = load("jfk")
    bridge = start_bridge(tmp_path, "nexa", core_address)
    try:
        message, _ = await csharp_example(bridge.url(PATH), to_pcm16(jfk.audio))
        assert message["type"] in ("partial", "final") and message["text"], message
        async with websockets.connect(bridge.url(PATH), max_size=None) as ws:  # and all of it, to the stop
            await ws.send(json.dumps({"language": "en-US", "enable_partial_results": False}))
            await ws.send(to_pcm16(jfk.audio))
            await ws.send(json.dumps({"action": "stop"}))
            text = check_results(await recv_all(ws))
        assert wer(jfk.transcript, text) <= 0.15, text
    finally:
        bridge.stop()


async def test_an_unknown_model_is_refused_naming_each_installed_model_once(nexa_bridge):
    error, code = await bad_config(nexa_bridge.url(PATH), json.dumps({"model": "large-v9"}))
    names = re.findall(r"'([^']+)'", error["error"].split("choose one of", 1)[1])
    assert names and len(names) == len(set(names)) and "tiny.en" in names, error
    assert code == 1008


async def test_session_limit_sends_an_error_then_closes_1008(core_address, tmp_path):
    bridge = start_bridge(tmp_path, "nexa", core_address, "--max-session-seconds", "2")
    try:
        async with websockets.connect(bridge.url(PATH)) as websocket:
            await websocket.send(json.dumps({"language": "en-US"}))
            await websocket.send(to_pcm16(speech(UTTERANCES[0])))
            messages = await recv_all(websocket, 60)
        errors = [m for m in messages if m["type"] == "error"]
        assert errors and "maximum session duration" in errors[0]["error"], messages
        assert websocket.close_code == 1008
        assert wer(UTTERANCES[0], check_results([m for m in messages if m["type"] != "error"])) <= 0.15
    finally:
        bridge.stop()
