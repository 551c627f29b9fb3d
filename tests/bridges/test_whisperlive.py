"""The whisperlive bridge end to end, speaking the wire protocol of the whisper-live 0.10.0 client."""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import numpy as np
import pytest
import websockets

from bridge_helpers import (BridgeProcess, assert_core_down_wording, assert_words_carry_their_punctuation, recv_json,
                            start_bridge)
from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, UTTERANCES, noise, silence, speech, to_pcm16, with_pauses, wer
from tests.conftest import free_port, start_core
from tests.dialogues import two_speakers_kennedy_and_sonnets
from tests.real_speech import load

TIME = re.compile(r"^\d+\.\d{3}$")
SPEEDUP = 3.0
CHUNK = 4096  # samples per frame, as the client's file and microphone paths send


@pytest.fixture(scope="module")
def wl_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    bridge = start_bridge(tmp_path_factory.mktemp("whisperlive"), "whisperlive", core_address)
    yield bridge
    bridge.stop()


def client_options(**overrides: Any) -> dict[str, Any]:
    """Exactly the keys Client.on_open sends, with TranscriptionClient's defaults."""
    return {"uid": str(uuid.uuid4()), "language": "en", "task": "transcribe", "model": "small", "use_vad": True,
            "send_last_n_segments": 10, "no_speech_thresh": 0.45, "clip_audio": False,
            "same_output_threshold": 10, "enable_translation": False, "target_language": "fr", "hotwords": None,
            "enable_diarization": False, "max_speakers": 10, "known_speakers": [], "word_timestamps": False,
            "initial_prompt": None, "vad_parameters": None, **overrides}


class Session:
    """One client connection: collects every message, like Client.on_message."""

    def __init__(self, ws: websockets.ClientConnection, options: dict[str, Any]) -> None:
        self.ws, self.options, self.uid = ws, options, options["uid"]
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, bridge: BridgeProcess, *, binary_options: bool = False, **overrides: Any) -> "Session":
        options = client_options(**overrides)
        ws = await websockets.connect(bridge.url("/"), max_size=None)
        await ws.send(json.dumps(options).encode() if binary_options else json.dumps(options))
        return cls(ws, options)

    async def next(self, timeout: float = 30) -> dict[str, Any]:
        msg = await recv_json(self.ws, timeout)
        assert msg.get("uid") == self.uid, msg
        self.messages.append(msg)
        return msg

    async def until_ready(self) -> None:
        while (msg := await self.next()).get("message") != "SERVER_READY":
            assert msg.get("status") == "WARNING", msg
        assert msg == {"uid": self.uid, "message": "SERVER_READY", "backend": "faster_whisper"}

    async def drain(self) -> None:
        try:
            while True:
                await self.next(0.001)
        except asyncio.TimeoutError:
            pass

    async def stream(self, audio: np.ndarray, int16: bool = False, uint8: bool = False) -> None:
        for i in range(0, len(audio), CHUNK):
            chunk = audio[i:i + CHUNK]
            if uint8:
                frame = (np.clip(chunk, -1, 1) * 127 + 128).round().astype(np.uint8).tobytes()
            else:
                frame = to_pcm16(chunk) if int16 else chunk.astype("<f4").tobytes()
            await self.ws.send(frame)
            await asyncio.sleep(len(chunk) / SAMPLE_RATE / SPEEDUP)
            await self.drain()

    async def settle(self, quiet: float = 4.0, limit: float = 30.0) -> None:
        """Like the client's file mode (15 s without a change), shortened."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                await self.next(quiet)
            except asyncio.TimeoutError:
                return

    async def transcribe(self, audio: np.ndarray, **stream_options: bool) -> None:
        """The client's file mode: ready, the file with a little trailing silence, settle, END_OF_AUDIO."""
        async with self.ws:
            await self.until_ready()
            await self.stream(np.concatenate([audio, silence(0.8)]), **stream_options)
            await self.settle()
            assert await self.finish() == 1000

    async def finish(self) -> int:
        await self.ws.send(b"END_OF_AUDIO")
        try:
            while True:
                await self.next(30)
        except websockets.ConnectionClosed:
            return self.ws.close_code

    def segment_messages(self) -> list[list[dict[str, Any]]]:
        return [m["segments"] for m in self.messages if "segments" in m]

    def transcript(self) -> str:
        """What the client keeps: completed segments starting at or after the last kept end."""
        kept: list[dict[str, Any]] = []
        for segments in self.segment_messages():
            for seg in segments:
                if seg["completed"] and (not kept or float(seg["start"]) >= float(kept[-1]["end"])):
                    kept.append(seg)
        return " ".join(s["text"].strip() for s in kept)


def check_segment_messages(session: Session, words: bool = False) -> None:
    frozen: dict[str, dict[str, Any]] = {}
    for msg in session.messages:
        if "segments" in msg:
            assert not {"status", "language", "message"} & set(msg), msg
    messages = session.segment_messages()
    assert messages
    for segments in messages:
        assert segments, "a segments message must never be empty"
        *done, last = segments
        assert last["completed"] is False, segments
        assert all(s["completed"] is True for s in done), segments
        assert len(done) <= session.options["send_last_n_segments"]
        previous_end = 0.0
        for seg in segments:
            assert TIME.match(seg["start"]) and TIME.match(seg["end"]), seg
            assert float(seg["start"]) <= float(seg["end"]) and isinstance(seg["text"], str)
            if words and seg["completed"]:
                assert seg["words"] and all(set(w) >= {"word", "start", "end", "probability"} for w in seg["words"])
                assert_words_carry_their_punctuation(seg["text"], [w["word"] for w in seg["words"]])
        for seg in done:
            assert float(seg["start"]) >= previous_end - 1e-9
            previous_end = float(seg["end"])
            # re-sent completed segments keep identical times and text
            assert frozen.setdefault(seg["start"], seg) == seg
    assert frozen, "no segment was ever completed"


async def test_conformance_like_the_transcription_client(wl_bridge):
    audio = np.concatenate([silence(0.3), speech(PARAGRAPH), silence(1.0)])
    session = await Session.open(wl_bridge)  # model "small" -> served by base, with a WARNING
    async with session.ws:
        await session.until_ready()
        [warning] = [m for m in session.messages if "status" in m]
        assert warning["status"] == "WARNING" and "'small'" in warning["message"] and "base" in warning["message"]
        await session.stream(audio)
        await session.settle()
        assert await session.finish() == 1000
    check_segment_messages(session)
    assert not [m for m in session.messages if "language" in m]  # language was given
    assert wer(PARAGRAPH, session.transcript()) <= 0.15, session.transcript()


async def test_language_detection_translate_int16_and_word_timestamps(wl_bridge):
    audio, _ = with_pauses(UTTERANCES[:2], pause=1.2)
    session = await Session.open(wl_bridge, language=None, task="translate", model="base",
                                 audio_format="int16", word_timestamps=True, send_last_n_segments=1)
    async with session.ws:
        await session.until_ready()
        assert not [m for m in session.messages if "status" in m]  # base is served as asked
        await session.stream(np.concatenate([audio, silence(0.8)]), int16=True)
        await session.settle()
        assert await session.finish() == 1000
    languages = [m for m in session.messages if "language" in m]
    assert len(languages) == 1 and set(languages[0]) == {"uid", "language", "language_prob"}
    assert languages[0]["language"] == "en" and 0.5 <= languages[0]["language_prob"] <= 1
    first_segments = next(i for i, m in enumerate(session.messages) if "segments" in m)
    assert session.messages.index(languages[0]) < first_segments
    check_segment_messages(session, words=True)
    assert wer(" ".join(UTTERANCES[:2]), session.transcript()) <= 0.15, session.transcript()


async def expect_status(session: Session, status: str, needle: str = "") -> dict[str, Any]:
    msg = await session.next(15)
    assert msg.get("status") == status and set(msg) == {"uid", "status", "message"}, msg
    assert needle.lower() in str(msg["message"]).lower(), msg
    return msg


async def expect_closed(ws: websockets.ClientConnection, timeout: float = 10) -> int | None:
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code


async def bad_inputs(bridge: BridgeProcess) -> None:
    for key in ("uid",):  # language, task and model have server defaults
        options = client_options()
        del options[key]
        async with websockets.connect(bridge.url("/")) as ws:
            await ws.send(json.dumps(options))
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert msg["status"] == "ERROR" and f"'{key}'" in msg["message"]
            assert msg["uid"] == options.get("uid", "")
            await expect_closed(ws)
    for frame, needle in (("{oops", "not valid json"), (json.dumps(client_options(task=5)), "'task'"),
                          (json.dumps(client_options(use_vad="yes")), "'use_vad'")):
        async with websockets.connect(bridge.url("/")) as ws:
            await ws.send(frame)
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert msg["status"] == "ERROR" and needle in msg["message"].lower(), msg
            await expect_closed(ws)
    async with websockets.connect(bridge.url("/")) as ws:  # audio before options
        await ws.send(np.zeros(CHUNK, dtype="<f4").tobytes())
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert msg["status"] == "ERROR" and "options" in msg["message"]
        await expect_closed(ws)
    session = await Session.open(bridge, model="tiny.en")
    async with session.ws:
        await session.until_ready()
        await session.ws.send(b"\0" * 4097)
        await expect_status(session, "WARNING", "multiple of 4")
        await session.ws.send("hello?")
        await expect_status(session, "WARNING", "binary")
        await session.ws.send(b"\0" * (1024 * 1024 + 4))
        await expect_status(session, "ERROR", "limit")
        assert await expect_closed(session.ws) == 1009


async def vanishing_client(bridge: BridgeProcess) -> None:
    session = await Session.open(bridge, model="tiny.en")
    await session.until_ready()
    await session.stream(speech(UTTERANCES[2])[: SAMPLE_RATE])
    session.ws.transport.abort()


async def test_bad_input_while_a_healthy_session_completes(wl_bridge):
    audio, _ = with_pauses(UTTERANCES, pause=1.2)

    async def healthy() -> str:
        session = await Session.open(wl_bridge, model="tiny.en")
        await session.transcribe(audio)
        check_segment_messages(session)
        return session.transcript()

    task = asyncio.create_task(healthy())
    await asyncio.sleep(0.5)
    await asyncio.gather(bad_inputs(wl_bridge), vanishing_client(wl_bridge))
    text = await task
    assert wer(" ".join(UTTERANCES), text) <= 0.15, text


async def test_wait_when_full_and_disconnect_after_max_connection_time(core_address, tmp_path):
    bridge = start_bridge(tmp_path, "whisperlive", core_address, "--max-clients", "1", "--max-connection-time", "4")
    try:
        first = await Session.open(bridge, model="tiny.en")
        await first.until_ready()
        second = await Session.open(bridge, model="tiny.en")
        wait = await second.next(10)
        assert set(wait) == {"uid", "status", "message"} and wait["status"] == "WAIT"
        assert isinstance(wait["message"], (int, float)) and 0 < wait["message"] <= 4 / 60 + 0.01
        await expect_closed(second.ws)
        # checked as frames arrive: keep streaming silence until DISCONNECT
        deadline = time.monotonic() + 10
        while not any(m.get("message") == "DISCONNECT" for m in first.messages):
            assert time.monotonic() < deadline
            try:
                await first.ws.send(silence(CHUNK / SAMPLE_RATE).tobytes())
            except websockets.ConnectionClosed:
                pass
            try:
                await first.next(0.25)
            except asyncio.TimeoutError:
                pass
        assert first.messages[-1] == {"uid": first.uid, "message": "DISCONNECT"}
        assert await expect_closed(first.ws) == 1000
        # the slot is free again; a silent client is disconnected by the timer
        third = await Session.open(bridge, model="tiny.en")
        await third.until_ready()
        assert await third.next(10) == {"uid": third.uid, "message": "DISCONNECT"}
        assert await expect_closed(third.ws) == 1000
    finally:
        bridge.stop()


async def test_the_clients_max_clients_is_answered_and_a_lower_max_connection_time_honoured(wl_bridge):
    """The document's configuration carries "max_clients" and "max_connection_time"; they are
    the server's flags, so the client is told which value applies, and a shorter connection time
    than the server's (600 s) is kept: DISCONNECT when it is up, even with no frame coming."""
    session = await Session.open(wl_bridge, model="tiny.en", max_clients=8, max_connection_time=3)
    async with session.ws:
        await session.until_ready()
        [warning] = [m for m in session.messages if m.get("status") == "WARNING"]
        assert "max_clients" in warning["message"] and "--max-clients 4" in warning["message"], warning
        started = time.monotonic()
        assert await session.next(15) == {"uid": session.uid, "message": "DISCONNECT"}
        assert 1.5 < time.monotonic() - started < 6
        assert await expect_closed(session.ws) == 1000
    longer = await Session.open(wl_bridge, model="tiny.en", max_clients=4, max_connection_time=7200)
    async with longer.ws:
        await longer.until_ready()
        [warning] = [m for m in longer.messages if m.get("status") == "WARNING"]
        assert "max_connection_time 7200 s" in warning["message"] and "600 s" in warning["message"], warning


async def test_the_documents_whisperx_server_command_line_starts(core_address, tmp_path):
    """`python run_websocket_server.py --backend whisperx --enable-diarization --huggingface-token
    YOUR_TOKEN`: WhisperX is faster-whisper with word timestamps, and every session's segments and
    words carry a speaker; the token is not needed and never logged."""
    token = "hf_document_example_token_123"
    bridge = start_bridge(tmp_path, "whisperlive", core_address, "--backend", "whisperx", "--enable-diarization",
                          "--huggingface-token", token)
    try:
        session = await Session.open(bridge, model="tiny.en")  # word_timestamps false in its options
        audio, _ = with_pauses(UTTERANCES[:2], pause=1.2)
        await session.transcribe(audio)
        assert not [m for m in session.messages if m.get("status") == "WARNING"]
        check_segment_messages(session, words=True)  # SERVER_READY still says faster_whisper (checked there)
        assert wer(" ".join(UTTERANCES[:2]), session.transcript()) <= 0.2, session.transcript()
        completed = [s for segments in session.segment_messages() for s in segments if s["completed"]]
        assert completed and all(s["speaker"] == "SPEAKER_00" for s in completed)  # one synthetic voice
        assert all(w["speaker"] == "SPEAKER_00" for s in completed for w in s["words"])
    finally:
        bridge.stop()
    log = bridge.log()
    assert "WARNING" in log and "--huggingface-token is ignored" in log, log[-2000:]
    assert token not in log


async def test_enable_diarization_puts_the_speaker_on_each_segment(wl_bridge):
    """The client's own option: Kennedy then the sonnets' reader, labelled as WhisperX labels."""
    session = await Session.open(wl_bridge, model="tiny.en", enable_diarization=True)
    await session.transcribe(two_speakers_kennedy_and_sonnets().audio)
    kept: list[dict[str, Any]] = []
    for segments in session.segment_messages():
        for seg in segments:
            if seg["completed"] and (not kept or float(seg["start"]) >= float(kept[-1]["end"])):
                kept.append(seg)
    assert kept[0]["speaker"] == "SPEAKER_00" and {s["speaker"] for s in kept} == {"SPEAKER_00", "SPEAKER_01"}
    partials = [s["speaker"] for segments in session.segment_messages() for s in segments if not s["completed"]]
    # the current guess; UNKNOWN before the first window of speech is embedded
    assert "SPEAKER_00" in partials and set(partials) <= {"SPEAKER_00", "SPEAKER_01", "UNKNOWN"}


async def test_core_busy_becomes_wait_and_core_down_becomes_error(tmp_path):
    busy_core = start_core(tmp_path, "--max-sessions", "1")
    busy = start_bridge(tmp_path, "whisperlive", busy_core.address)
    down = start_bridge(tmp_path, "whisperlive", f"127.0.0.1:{free_port()}")
    try:
        first = await Session.open(busy, model="tiny.en")
        await first.until_ready()
        second = await Session.open(busy, model="tiny.en")
        wait = await second.next(15)
        assert wait["status"] == "WAIT" and isinstance(wait["message"], (int, float)) and wait["message"] > 0
        await expect_closed(second.ws)
        await first.ws.close()
        for _ in range(2):
            session = await Session.open(down, model="tiny.en")
            started = time.monotonic()
            msg = await session.next(15)
            assert msg["status"] == "ERROR"
            assert_core_down_wording(msg["message"].lower())
            assert time.monotonic() - started < 15
            await expect_closed(session.ws)
    finally:
        down.stop()
        busy.stop()
        busy_core.stop()


async def test_backstop_refusal_is_http_503_before_the_upgrade(core_address, tmp_path):
    """The runtime's connection backstop (--max-connections) refuses before the WebSocket upgrade
    (issue 8: refused clients cost no upgrade); --max-clients still answers WAIT in the dialect."""
    bridge = start_bridge(tmp_path, "whisperlive", core_address, "--max-connections", "1")
    try:
        first = await Session.open(bridge, model="tiny.en")
        await first.until_ready()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await Session.open(bridge, model="tiny.en")
        assert refused.value.response.status_code == 503 and refused.value.response.headers["Retry-After"]
        await first.ws.close()
    finally:
        bridge.stop()


async def test_a_paused_push_to_talk_user_keeps_the_session(core_address, tmp_path):
    """No frames for longer than the idle timeout: the reference keeps the session, so do we."""
    bridge = start_bridge(tmp_path, "whisperlive", core_address, "--idle-timeout", "2")
    try:
        session = await Session.open(bridge, model="tiny.en")
        async with session.ws:
            await session.until_ready()
            await session.stream(np.concatenate([speech(UTTERANCES[0]), silence(0.8)]))
            await asyncio.sleep(3.0)  # the user lets go of the button
            await session.stream(np.concatenate([speech(UTTERANCES[1]), silence(0.8)]))
            await session.settle()
            assert await session.finish() == 1000
        assert not [m for m in session.messages if m.get("status") == "ERROR"], session.messages
        assert wer(" ".join(UTTERANCES[:2]), session.transcript()) <= 0.15, session.transcript()
    finally:
        bridge.stop()


async def test_without_vad_segments_are_still_committed(wl_bridge):
    """use_vad false: completed segments at the pauses, not one partial growing for the whole file."""
    audio, _ = with_pauses(UTTERANCES, pause=1.2)
    session = await Session.open(wl_bridge, model="tiny.en", use_vad=False)
    await session.transcribe(audio)
    check_segment_messages(session)
    completed = {seg["start"]: seg for segments in session.segment_messages() for seg in segments if seg["completed"]}
    assert len(completed) >= 3, list(completed.values())
    longest = max(float(s["end"]) - float(s["start"]) for m in session.segment_messages() for s in m)
    assert longest < 6.0, longest
    assert wer(" ".join(UTTERANCES), session.transcript()) <= 0.2, session.transcript()


@pytest.mark.parametrize("name,audio", [("digital silence", silence(8.0)), ("light noise", noise(8.0, 0.01))])
async def test_without_vad_silence_and_noise_are_not_written_as_text(wl_bridge, name, audio):
    """use_vad false sends silence to the decoder; Whisper would write " you" or " ." for it."""
    session = await Session.open(wl_bridge, model="tiny.en", use_vad=False)
    await session.transcribe(audio)
    texts = [seg["text"] for segments in session.segment_messages() for seg in segments if seg["text"].strip()]
    assert not texts, (name, texts)


async def test_without_vad_speech_then_silence_is_the_speech_only(wl_bridge):
    """JFK, then a second of silence: the silence is not a segment of its own (" you")."""
    jfk = load("jfk")
    session = await Session.open(wl_bridge, model="tiny.en", use_vad=False)
    await session.transcribe(np.concatenate([jfk.audio, silence(1.0)]))
    completed = {float(seg["start"]): seg["text"] for segments in session.segment_messages()
                 for seg in segments if seg["completed"] and seg["text"].strip()}
    after_speech = {start: text for start, text in completed.items() if start >= jfk.seconds - 0.3}
    assert completed and not after_speech, completed
    assert wer(jfk.transcript, session.transcript()) <= 0.15, session.transcript()


async def test_reference_server_flags_binary_options_and_uint8_audio(core_address, tmp_path):
    bridge = start_bridge(tmp_path, "whisperlive", core_address, "--backend", "faster_whisper", "--model", "tiny.en",
                          "--language", "en", "--no-vad")
    try:
        session = await Session.open(bridge, binary_options=True, model="small", audio_format="uint8")
        audio, _ = with_pauses(UTTERANCES[:2], pause=1.2)
        await session.transcribe(audio, uint8=True)
        [warning] = [m for m in session.messages if "status" in m]
        assert "'tiny.en'" in warning["message"], warning  # the server's --model serves every session
        check_segment_messages(session)
        assert wer(" ".join(UTTERANCES[:2]), session.transcript()) <= 0.2, session.transcript()
    finally:
        bridge.stop()
