"""funasr bridge end to end: the document's own clients, bad input, a parallel healthy session."""
from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from datetime import datetime

import numpy as np
import websockets

from bridge_helpers import recv_all, recv_json
from tests.audio_fixtures import SAMPLE_RATE, UTTERANCES, silence, speech, wer, with_pauses
from tests.real_speech import load
from tests.support import wav_bytes

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


def finals(messages: list[dict]) -> str:
    """What a client that acts on every final (the document's voice assistant) heard, in order."""
    return " ".join(m["text"] for m in messages if m["type"] == "recognition_result" and m["is_final"] and m["text"])


def stopped_transcript(message: dict) -> str:
    """The recording's whole transcript, carried by SESSION_STOPPED's message."""
    assert message["code"] == "SESSION_STOPPED", message
    return message["message"].partition("; transcript: ")[2]


def check_messages(messages: list[dict]) -> str:
    """Check every message's shape; the final after stop_recording holds only what was not final
    yet, and SESSION_STOPPED the whole transcript, which is returned."""
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
    assert messages[-1]["code"] == "SESSION_STOPPED", messages[-3:]
    final = messages[-2]
    assert final["type"] == "recognition_result" and final["is_final"], messages[-3:]
    return stopped_transcript(messages[-1])


def new_results(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "recognition_result"]


async def test_document_health_check(funasr_default_bridge):
    """No language and no engine: Chinese, served by FunASR or else multilingual Whisper."""
    async with websockets.connect(funasr_default_bridge.url("/ws/test_connection")) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        status = json.loads(await asyncio.wait_for(websocket.recv(), timeout=5))
        assert status["type"] == "status" and "SESSION_STARTED" in status.get("code", ""), status
        engine = "funasr" if "engine funasr" in status["message"] else "whisper"
        model = "[^,]+" if engine == "funasr" else "base"  # FunASR when installed, else multilingual Whisper
        assert re.fullmatch(rf"Recording started \(engine {engine}, model {model}, language zh; raw audio is "
                            r"taken as 16000 Hz mono, .*\"sample_rate\".*\)", status["message"]), status


async def test_document_voice_assistant_session(funasr_bridge):
    """The document's session exactly: start, 100 x (chunk, one recv, sleep 0.1), stop, one recv."""
    audio = np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(1.0)]).astype(np.float32)
    assert len(audio) <= 100 * CHUNK
    async with websockets.connect(funasr_bridge.url("/ws/assistant_session_001")) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        replies = []
        for i in range(100):
            audio_data = np.zeros(CHUNK, np.float32)
            piece = audio[i * CHUNK:(i + 1) * CHUNK]
            audio_data[:len(piece)] = piece
            await websocket.send(json.dumps({"type": "audio_chunk",
                                             "data": base64.b64encode(audio_data.tobytes()).decode()}))
            replies.append(json.loads(await websocket.recv()))
            await asyncio.sleep(0.1)
        await websocket.send(json.dumps({"type": "stop_recording"}))
        final_result = json.loads(await websocket.recv())
    # SESSION_STARTED is read in the place of the reply to a chunk sent before or after it arrived.
    assert [m.get("code") for m in replies[:2]].count("SESSION_STARTED") == 1, replies[:2]
    assert final_result["type"] == "recognition_result" and final_result["is_final"], final_result
    heard = finals([*replies, final_result])  # each final once: during the recording, then the rest
    assert wer(UTTERANCES[0], heard) <= 0.15, (heard, final_result)
    results = new_results(replies)
    assert results and all(m["text"] for m in results), replies  # only news: never an empty result
    partials = [m["text"] for m in results if not m["is_final"]]
    assert all(a != b for a, b in zip(partials, partials[1:])), partials  # never the same text twice
    assert sum(m.get("code") == "PROCESSING_AUDIO" for m in replies) > 50  # nothing new: an acknowledgement


async def test_a_voice_assistant_acting_on_every_final_acts_once_per_utterance(funasr_bridge):
    """The document's voice assistant runs a command for every final it reads, during the
    recording and in its one recv() after stop_recording. Two sentences with a pause: each final
    it reads is new text (the answer to stop_recording repeats nothing), together they are the
    recording's transcript, and SESSION_STOPPED carries that transcript whole."""
    audio, _ = with_pauses(UTTERANCES[:2], pause=1.5, lead=0.3)
    audio = np.concatenate([audio, silence(1.5)]).astype(np.float32)
    commands: list[str] = []
    async with websockets.connect(funasr_bridge.url("/ws/assistant_acting")) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        for i in range(0, len(audio), CHUNK):
            await websocket.send(chunk_message(audio[i:i + CHUNK].tobytes()))
            result = json.loads(await websocket.recv())
            if result["type"] == "recognition_result" and result["is_final"]:
                commands.append(result["text"])  # process_voice_command(result["text"])
            await asyncio.sleep(CHUNK / SAMPLE_RATE)  # a live microphone's pace
        assert commands, "the first sentence was final before the recording stopped"
        await websocket.send(json.dumps({"type": "stop_recording"}))
        final_result = json.loads(await websocket.recv())
        assert final_result["type"] == "recognition_result" and final_result["is_final"], final_result
        if final_result["text"]:
            commands.append(final_result["text"])
        stopped = await recv_json(websocket, 30)
    assert len(commands) == len(set(commands)), commands  # no final read twice
    assert wer(" ".join(UTTERANCES[:2]), " ".join(commands)) <= 0.15, commands
    assert stopped_transcript(stopped).split() == " ".join(commands).split(), (stopped, commands)


async def test_document_silence_chunks_keep_the_recording_alive(funasr_bridge):
    """capture_audio_chunk() (1024 float32 zeros) 175 times, then float32 speech, then stop."""
    clip = np.concatenate([speech(UTTERANCES[1]), silence(0.5)]).astype(np.float32)
    async with websockets.connect(funasr_bridge.url("/ws/silence_then_speech")) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        messages = []
        for _ in range(175):
            await websocket.send(chunk_message(np.zeros(CHUNK, np.float32).tobytes()))
            messages.append(json.loads(await websocket.recv()))
        for i in range(0, len(clip), CHUNK):
            await websocket.send(chunk_message(clip[i:i + CHUNK].tobytes()))
            messages.append(json.loads(await websocket.recv()))
        await websocket.send(json.dumps({"type": "stop_recording"}))
        final_result = json.loads(await websocket.recv())
    assert not [m for m in messages if m["type"] == "error"], [m for m in messages if m["type"] == "error"][:2]
    heard = finals([*messages, final_result])
    assert final_result["is_final"] and wer(UTTERANCES[1], heard) <= 0.15, (heard, final_result)


async def test_one_large_chunk_is_accepted(funasr_default_bridge):
    """One 768 KB int16 frame (under the default 1 MiB message limit; 1.5 MB once float32 for the
    core): answered like any chunk, and the recording goes on."""
    pcm = np.resize((speech(UTTERANCES[1]) * 32767).astype("<i2"), 384_000).tobytes()
    message = chunk_message(pcm)
    assert len(pcm) == 768_000 and len(message) < 1024 * 1024
    async with websockets.connect(funasr_default_bridge.url("/ws/large_chunk"), max_size=None) as websocket:
        await websocket.send(json.dumps({"type": "start_recording"}))
        assert (await recv_json(websocket))["code"] == "SESSION_STARTED"
        await websocket.send(message)
        reply = await recv_json(websocket)  # SESSION_STARTED was read: this one comes after REPLY_GRACE
        assert reply["type"] != "error", reply
        for _ in range(3):
            await websocket.send(chunk_message(np.zeros(CHUNK, "<i2").tobytes()))
            reply = await recv_json(websocket)
            assert reply["type"] != "error", reply
        await websocket.send(json.dumps({"type": "stop_recording"}))
        final = await recv_json(websocket, 120)
        assert final["type"] == "recognition_result" and final["is_final"], final


async def lockstep_recording(ws, clip: np.ndarray, *, read_after_stop: bool) -> list[dict]:
    """The document's voice assistant: start, (chunk, one recv) per chunk, stop[, one recv]."""
    await ws.send(json.dumps({"type": "start_recording"}))
    replies = []
    for i in range(0, len(clip), CHUNK):
        await ws.send(chunk_message(clip[i:i + CHUNK].tobytes()))
        replies.append(await recv_json(ws, 10))
    await ws.send(json.dumps({"type": "stop_recording"}))
    if read_after_stop:
        replies.append(await recv_json(ws))
    return replies


async def test_int32_audio_is_detected_when_it_starts_quietly(funasr_bridge):
    """"Auto-detection of formats: float32, int16, int32": JFK as `(x * 2147483647).astype(np.int32)`
    in the document's 1024-sample chunks. Its first chunks are quiet: read as 16-bit words they
    look like int16 audio, so no chunk may decide the format alone."""
    jfk = load("jfk")
    x = jfk.audio.astype(np.float64)
    clip = np.concatenate([x, np.zeros(8000)])
    async with websockets.connect(funasr_bridge.url("/ws/int32_quiet_start")) as ws:
        replies = await lockstep_recording(ws, (clip * 2147483647).astype(np.int32), read_after_stop=False)
        messages = replies + await recv_until_stopped(ws)
    assert not [m for m in messages if m["type"] == "error"], messages
    text = check_messages(messages)
    assert wer(jfk.transcript, text) <= 0.15, text


async def test_an_all_nan_chunk_is_refused_and_the_stream_keeps_its_format(funasr_bridge):
    clip = np.concatenate([speech(UTTERANCES[1]), silence(0.3)]).astype(np.float32)
    async with websockets.connect(funasr_bridge.url("/ws/nan_chunk")) as ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        assert (await recv_json(ws))["code"] == "SESSION_STARTED"
        await ws.send(chunk_message(np.full(CHUNK, np.nan, np.float32).tobytes()))
        assert "NaN" in (await expect_error(ws, "INVALID_AUDIO_FORMAT"))["details"]
        replies = []
        for i in range(0, len(clip), CHUNK):
            await ws.send(chunk_message(clip[i:i + CHUNK].tobytes()))
            replies.append(await recv_json(ws, 10))
        await ws.send(json.dumps({"type": "stop_recording"}))
        messages = replies + await recv_until_stopped(ws)
    assert not [m for m in messages if m["type"] == "error"], messages
    text = check_messages(messages)
    assert wer(UTTERANCES[1], text) <= 0.15, text


async def test_base64_with_line_breaks_is_accepted(funasr_bridge):
    """Python's base64.encodebytes() puts a line break every 76 characters."""
    clip = np.concatenate([speech(UTTERANCES[0]), silence(0.3)]).astype(np.float32)
    async with websockets.connect(funasr_bridge.url("/ws/encodebytes")) as ws:
        await ws.send(json.dumps({"type": "start_recording"}))
        replies = []
        for i in range(0, len(clip), CHUNK):
            data = base64.encodebytes(clip[i:i + CHUNK].tobytes()).decode()
            assert "\n" in data
            await ws.send(json.dumps({"type": "audio_chunk", "data": data}))
            replies.append(await recv_json(ws, 10))
        await ws.send(json.dumps({"type": "stop_recording"}))
        messages = replies + await recv_until_stopped(ws)
    assert not [m for m in messages if m["type"] == "error"], messages
    text = check_messages(messages)
    assert wer(UTTERANCES[0], text) <= 0.15, text


async def test_the_sample_rate_of_raw_audio_is_said_and_can_be_set(funasr_bridge):
    """The document does not say what rate raw audio is read at: SESSION_STARTED does, and
    start_recording's "sample_rate" sets it."""
    import soxr

    clip = soxr.resample(np.concatenate([speech(UTTERANCES[1]), silence(0.3)]), SAMPLE_RATE, 44100)
    pcm = (clip * 32767).astype("<i2").tobytes()
    async with websockets.connect(funasr_bridge.url("/ws/rate_44k")) as ws:
        await ws.send(json.dumps({"type": "start_recording", "sample_rate": 44100, "format": "int16"}))
        started = await recv_json(ws)
        assert started["code"] == "SESSION_STARTED" and "44100 Hz" in started["message"], started
        replies = []
        for i in range(0, len(pcm), 8192):
            await ws.send(chunk_message(pcm[i:i + 8192]))
            replies.append(await recv_json(ws, 10))
        await ws.send(json.dumps({"type": "stop_recording"}))
        text = check_messages(replies + await recv_until_stopped(ws))
    assert wer(UTTERANCES[1], text) <= 0.15, text


async def test_voice_assistant_twice_on_one_connection(funasr_bridge):
    clip = np.concatenate([speech(UTTERANCES[0]), silence(0.3)]).astype(np.float32)
    async with websockets.connect(funasr_bridge.url("/ws/twice")) as ws:
        first = await lockstep_recording(ws, clip, read_after_stop=True)
        second = await lockstep_recording(ws, clip, read_after_stop=True)  # SESSION_STOPPED is unread
    for replies in (first, second):
        assert not [m for m in replies if m["type"] == "error"], replies
        assert replies[-1]["is_final"] and wer(UTTERANCES[0], finals(replies)) <= 0.15, replies
    assert [m.get("code") for m in second[:2]].count("SESSION_STOPPED") == 1, second[:2]


async def test_stop_then_start_at_once_starts_a_new_recording(funasr_bridge):
    clip = np.concatenate([speech(UTTERANCES[0]), silence(0.3)]).astype(np.float32)
    async with websockets.connect(funasr_bridge.url("/ws/back_to_back")) as ws:
        messages = await lockstep_recording(ws, clip, read_after_stop=False)
        messages += await lockstep_recording(ws, clip, read_after_stop=False)  # start right after stop
        while [m.get("code") for m in messages].count("SESSION_STOPPED") < 2:
            messages.append(await recv_json(ws))
    assert not [m for m in messages if m["type"] == "error"], messages
    stops = [m for m in messages if m.get("code") == "SESSION_STOPPED"]
    for stopped in stops:  # each recording ends with SESSION_STOPPED carrying its whole transcript
        assert wer(UTTERANCES[0], stopped_transcript(stopped)) <= 0.15, stopped


async def lockstep_chunks(ws, clip: np.ndarray) -> list[dict]:
    """(chunk, one recv) per 1024-sample chunk of `clip`, as the voice assistant does."""
    replies = []
    for i in range(0, len(clip), CHUNK):
        await ws.send(chunk_message(clip[i:i + CHUNK].tobytes()))
        replies.append(await recv_json(ws, 10))
        await asyncio.sleep(PACE)
    return replies


async def resume_and_finish(ws, rest: np.ndarray) -> tuple[list[dict], str]:
    """The reconnected client: start_recording (the document's ASRClient does it on every
    connection), the rest of the audio in lockstep, stop. Returns what it got and the transcript."""
    await ws.send(json.dumps({"type": "start_recording"}))
    messages = await lockstep_chunks(ws, rest)
    await ws.send(json.dumps({"type": "stop_recording"}))
    messages += await recv_until_stopped(ws)
    assert not [m for m in messages if m["type"] == "error"], messages
    resumed = [m for m in messages if m.get("code") == "SESSION_STARTED"]
    assert len(resumed) == 1 and "resumed" in resumed[0]["message"], resumed
    return messages, check_messages(messages)


def jfk_cut_inside_ask_not() -> tuple[str, np.ndarray, np.ndarray]:
    jfk = load("jfk")
    audio = np.concatenate([jfk.audio, silence(1.0)]).astype(np.float32)
    cut = 5 * SAMPLE_RATE // CHUNK * CHUNK  # 5 s: "... fellow Americans, ask not" is still open
    return jfk.transcript, audio[:cut], audio[cut:]


async def test_a_dropped_connection_resumes_with_the_same_client_id(funasr_bridge):
    """"Session Persistence: use same client_id for reconnection within 5 minutes": the TCP
    connection drops in the middle of a recording and the client reconnects 1 s later. It gets
    the words the dropped connection had not received, and the recording goes on."""
    transcript, before, after = jfk_cut_inside_ask_not()
    old = await websockets.connect(funasr_bridge.url("/ws/dropped_mid_sentence"))
    await old.send(json.dumps({"type": "start_recording"}))
    heard_before = await lockstep_chunks(old, before)
    old.transport.abort()  # no close frame, no stop_recording
    await asyncio.sleep(1.0)
    async with websockets.connect(funasr_bridge.url("/ws/dropped_mid_sentence")) as ws:
        messages, text = await resume_and_finish(ws, after)
    assert wer(transcript, text) <= 0.15, text  # one recording: the words before the drop included
    before_stop = [m["text"] for m in messages[:-2] if m["type"] == "recognition_result" and m["is_final"]]
    pending = " ".join(before_stop).lower()
    assert "ask" in pending, (before_stop, new_results(heard_before))  # open at the drop, delivered now


async def test_reconnect_with_the_same_client_id_takes_over(funasr_bridge):
    """"Same client_id for reconnection": the old socket is not known dead yet. The new
    connection takes over its recording, and the old one is closed."""
    transcript, before, after = jfk_cut_inside_ask_not()
    old = await websockets.connect(funasr_bridge.url("/ws/reconnecting"))
    await old.send(json.dumps({"type": "start_recording"}))
    await lockstep_chunks(old, before)
    async with websockets.connect(funasr_bridge.url("/ws/reconnecting")) as ws:
        messages, text = await resume_and_finish(ws, after)
        await asyncio.wait_for(old.wait_closed(), 10)
        assert old.close_code == 1000
    await old.close()
    assert wer(transcript, text) <= 0.15, text


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

    async with websockets.connect(funasr_bridge.url("/ws/" + "x" * 129)) as ws:
        await expect_error(ws, "SESSION_ERROR")
        assert await recv_all(ws) == [] and ws.close_code == 1008

    async with websockets.connect(funasr_bridge.url("/ws/bad_input")) as ws:
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
            replies.append(await recv_json(ws))  # the first one after REPLY_GRACE: SESSION_STARTED was read
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
