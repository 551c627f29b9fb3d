"""funasr bridge end to end: the document's own clients, bad input, a parallel healthy session."""
from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
import wave
from datetime import datetime

import numpy as np
import soxr
import websockets

from bridge_helpers import recv_all, recv_json
from tests.audio_fixtures import PARAGRAPH, UTTERANCES, SAMPLE_RATE, silence, speech, wer, with_pauses

CHUNK = 1024  # samples per chunk, as in the document's capture_audio_chunk()
PACE = 0.02  # the document sleeps 0.1 s per 64 ms chunk; we go faster


def chunk_message(raw: bytes) -> str:
    return json.dumps({"type": "audio_chunk", "data": base64.b64encode(raw).decode()})


async def recv_until_stopped(ws, timeout: float = 60) -> list[dict]:
    messages = []
    while True:
        messages.append(await recv_json(ws, timeout))
        if messages[-1].get("code") == "SESSION_STOPPED" or messages[-1]["type"] == "error":
            return messages


def check_messages(messages: list[dict]) -> str:
    for m in messages:
        if m["type"] == "recognition_result":
            assert set(m) == {"type", "text", "is_final", "timestamp", "confidence"}, m
            assert isinstance(m["text"], str) and isinstance(m["is_final"], bool)
            assert isinstance(m["confidence"], float) and 0 <= m["confidence"] <= 1
            assert datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")).tzinfo is not None
        elif m["type"] == "status":
            assert set(m) == {"type", "message", "code"}, m
            assert m["code"] in ("SESSION_STARTED", "SESSION_STOPPED", "MODEL_LOADED", "PROCESSING_AUDIO"), m
        else:
            raise AssertionError(f"unexpected message {m}")
    return " ".join(m["text"] for m in messages if m["type"] == "recognition_result" and m["is_final"])


async def test_document_health_check(funasr_bridge):
    async with websockets.connect(funasr_bridge.url("/ws/test_connection")) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        status = json.loads(await asyncio.wait_for(websocket.recv(), timeout=5))
        assert status == {"type": "status", "message": "Recording started", "code": "SESSION_STARTED"}


async def test_document_voice_assistant_session_float32(funasr_bridge):
    """The document's session: one recv() after every chunk, stop, then the final results."""
    audio = np.concatenate([silence(0.3), speech(PARAGRAPH), silence(0.1)]).astype(np.float32)
    async with websockets.connect(funasr_bridge.url("/ws/assistant_session_001")) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        replies = []
        for i in range(0, len(audio), CHUNK):
            await websocket.send(chunk_message(audio[i:i + CHUNK].tobytes()))
            replies.append(json.loads(await asyncio.wait_for(websocket.recv(), 10)))  # must never block
            await asyncio.sleep(PACE)
        await websocket.send(json.dumps({"type": "stop_recording"}))
        after = await recv_until_stopped(websocket)
    messages = replies + after
    text = check_messages(messages)
    assert wer(PARAGRAPH, text) <= 0.15, text
    codes = [m.get("code") for m in messages if m["type"] == "status"]
    assert codes[0] == "SESSION_STARTED" and codes[-1] == "SESSION_STOPPED"
    assert codes.count("MODEL_LOADED") == 1 and 1 <= codes.count("PROCESSING_AUDIO") <= 10, codes
    assert any(not m["is_final"] and m["text"] for m in messages if m["type"] == "recognition_result")
    assert any(m.get("is_final") for m in after), "stop_recording must deliver the last final"


def wav_bytes(audio: np.ndarray, rate: int, channels: int) -> bytes:
    resampled = soxr.resample(audio, SAMPLE_RATE, rate)
    pcm = (np.clip(np.repeat(resampled[:, None], channels, axis=1), -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


async def healthy_wav_session(url: str) -> str:
    """A WAV file (44.1 kHz stereo int16) sent in pieces: header in the first chunk only."""
    audio, _ = with_pauses(UTTERANCES, pause=1.0, lead=0.3)
    data = wav_bytes(audio, 44100, 2)
    step = 4096 * 4
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        replies = []
        for i in range(0, len(data), step):
            await ws.send(chunk_message(data[i:i + step]))
            replies.append(await recv_json(ws, 10))
            await asyncio.sleep(0.03)
        await ws.send(json.dumps({"type": "stop_recording"}))
        return check_messages(replies + await recv_until_stopped(ws))


async def expect_error(ws, code: str) -> dict:
    message = await recv_json(ws)
    assert message["type"] == "error" and set(message) == {"type", "message", "code", "details"}, message
    assert message["code"] == code, message
    return message


async def test_bad_input_gets_errors_while_a_parallel_session_completes(funasr_bridge):
    healthy = asyncio.create_task(healthy_wav_session(funasr_bridge.url(f"/ws/{uuid.uuid4()}")))

    async with websockets.connect(funasr_bridge.url("/ws/" + "x" * 65)) as ws:
        await expect_error(ws, "SESSION_ERROR")
        assert await recv_all(ws) == [] and ws.close_code == 1008

    async with websockets.connect(funasr_bridge.url("/ws/bad_input")) as ws:
        async with websockets.connect(funasr_bridge.url("/ws/bad_input")) as dup:
            assert "already connected" in (await expect_error(dup, "SESSION_ERROR"))["details"]
        await ws.send("{not json")
        await expect_error(ws, "SESSION_ERROR")
        await ws.send(json.dumps({"type": "dance"}))
        await expect_error(ws, "SESSION_ERROR")
        await ws.send(chunk_message(b"\x00\x01" * 512))
        assert "start_recording" in (await expect_error(ws, "SESSION_ERROR"))["details"]
        await ws.send(json.dumps({"type": "stop_recording"}))
        await expect_error(ws, "SESSION_ERROR")
        await ws.send(json.dumps({"type": "start_recording", "sample_rate": "44100"}))
        await expect_error(ws, "INVALID_AUDIO_FORMAT")
        await ws.send(json.dumps({"type": "start_recording", "format": "mp3"}))
        await expect_error(ws, "INVALID_AUDIO_FORMAT")

        await ws.send(json.dumps({"type": "start_recording"}))
        assert (await recv_json(ws))["code"] == "SESSION_STARTED"
        await ws.send(json.dumps({"type": "audio_chunk", "data": "!!not base64!!"}))
        await expect_error(ws, "INVALID_AUDIO_FORMAT")
        await ws.send(json.dumps({"type": "audio_chunk", "data": 12}))
        await expect_error(ws, "INVALID_AUDIO_FORMAT")
        await ws.send(chunk_message(b"\x01\x02\x03"))  # odd byte count
        await expect_error(ws, "INVALID_AUDIO_FORMAT")
        await ws.send(json.dumps({"type": "audio_chunk", "data": "A" * 140_000}))  # over this bridge's 128 KiB
        await expect_error(ws, "BUFFER_OVERFLOW")
        await ws.send(b"\x00\x00")
        await expect_error(ws, "INVALID_AUDIO_FORMAT")
        await ws.send(json.dumps({"type": "start_recording"}))
        await expect_error(ws, "SESSION_ERROR")
        # The recording still works after all that.
        pcm = (speech(UTTERANCES[1]) * 32767).astype("<i2").tobytes()
        replies = []
        for i in range(0, len(pcm), 4096):
            await ws.send(chunk_message(pcm[i:i + 4096]))
            replies.append(await recv_json(ws))
        await ws.send(json.dumps({"type": "stop_recording"}))
        text = check_messages(replies + await recv_until_stopped(ws))
        assert wer(UTTERANCES[1], text) <= 0.15, text

    vanishing = await websockets.connect(funasr_bridge.url("/ws/vanishing"))
    await vanishing.send(json.dumps({"type": "start_recording"}))
    await recv_json(vanishing)
    await vanishing.send(chunk_message(speech(UTTERANCES[0])[:8000].tobytes()))
    vanishing.transport.abort()

    text = await asyncio.wait_for(healthy, 120)
    assert wer(" ".join(UTTERANCES), text) <= 0.15, text
    # The vanished client's id is free again once the bridge noticed.
    await asyncio.sleep(1.0)
    async with websockets.connect(funasr_bridge.url("/ws/vanishing")) as ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        assert (await recv_json(ws))["code"] == "SESSION_STARTED"
