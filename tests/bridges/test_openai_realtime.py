"""GET /v1/realtime transcription sessions (docs/openai.md) through the published `openai` SDK's
`realtime.connect` (GA) and `beta.realtime.connect` (OpenAI-Beta: realtime=v1), JFK's speech sent
at real time: partial text arrives as append-only deltas that concatenate to each item's
`completed` transcript; with `gpt-4o-transcribe-diarize` (a dialogue of two real people) each
final's speaker runs come as `segment` events before the item's `completed`."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from typing import Any, AsyncIterator

import numpy as np
import openai
import soxr

from bridges.openai import SPEC
from tests.audio_fixtures import SAMPLE_RATE, to_pcm16
from tests.encoded_audio import TELEPHONY_RATE, jfk, jfk_g711
from transport_helpers import assert_jfk, running_bridge

CHUNK_SECONDS = 0.1
TRAILING_SILENCE_SECONDS = 4.0  # the last utterance ends in the audio, not at the socket's close
# G.711 at 8 kHz, live, on this loaded machine: "And so my fellow Americans" comes out "And so am I
# fell America" (4 of JFK's 22 words; the companding's loss is measured in
# tests/core/test_compressed_audio.py), and in some runs the core's final of the last phrase lacks
# its first words ("can do for your country", its onset at a 0.1 s pause after "for you"): the
# core's own finals, passed through as they are (the deltas check above holds). Up to 7 words.
G711_MAX_WER = 0.33
QUIET_SECONDS = 8.0  # no event for this long after the audio: the session has said everything


@contextlib.asynccontextmanager
async def sdk(core_address: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with running_bridge(SPEC, core_address) as bridge:
        async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{bridge.port}/v1", api_key="unused",
                                      websocket_base_url=f"ws://127.0.0.1:{bridge.port}/v1",  # beta: wss otherwise
                                      max_retries=0) as client:
            yield client


@contextlib.asynccontextmanager
async def ga_session(client: openai.AsyncOpenAI, **audio_input: Any) -> AsyncIterator[Any]:
    """A GA transcription session (the SDK's own connect), updated with `audio_input`."""
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        created = await connection.recv()
        assert created.type == "session.created" and created.session.type == "transcription", created
        await connection.session.update(session={"type": "transcription", "audio": {"input": audio_input}})
        yield connection


def pcm24k() -> bytes:
    audio = soxr.resample(jfk(), SAMPLE_RATE, 24000)
    return to_pcm16(np.concatenate([audio, np.zeros(int(24000 * TRAILING_SILENCE_SECONDS), np.float32)]))


def mulaw() -> bytes:
    return jfk_g711("MULAW") + b"\xff" * int(TELEPHONY_RATE * TRAILING_SILENCE_SECONDS)  # μ-law silence


async def stream_at_real_time(connection: Any, audio: bytes, bytes_per_second: int) -> None:
    chunk = int(bytes_per_second * CHUNK_SECONDS) // 2 * 2
    start = time.monotonic()
    for i, at in enumerate(range(0, len(audio), chunk)):
        await connection.input_audio_buffer.append(audio=base64.b64encode(audio[at:at + chunk]).decode())
        await asyncio.sleep(max(0.0, start + (i + 1) * CHUNK_SECONDS - time.monotonic()))


async def events_until_quiet(connection: Any, sender: asyncio.Task) -> list[Any]:
    """The session's events until none came for QUIET_SECONDS after the audio was sent (read
    by one task: the SDK's recv is not to be cancelled)."""
    queue: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        while True:
            await queue.put(await connection.recv())

    reader = asyncio.create_task(read())
    events: list[Any] = []
    loop = asyncio.get_running_loop()
    heard = loop.time()  # the last event, or the end of the audio when it came later
    deadline = loop.time() + 120
    try:
        while loop.time() < deadline:
            try:  # short polls: a long wait begun while the audio was still going must not outlast the quiet
                events.append(await asyncio.wait_for(queue.get(), 0.5))
                heard = loop.time()
                continue
            except asyncio.TimeoutError:
                pass
            if reader.done():  # the bridge closed the session
                return events
            if not sender.done():
                heard = loop.time()
            elif loop.time() - heard >= QUIET_SECONDS:
                return events
        raise AssertionError(f"the session never fell quiet: {[e.type for e in events][-10:]}")
    finally:
        reader.cancel()


async def streamed(connection: Any, audio: bytes, bytes_per_second: int) -> list[Any]:
    """The audio sent at real time; the events until the session fell quiet after it."""
    sender = asyncio.create_task(stream_at_real_time(connection, audio, bytes_per_second))
    events = await events_until_quiet(connection, sender)
    await sender
    return events


def assert_items_are_streamed(events: list[Any]) -> str:
    """Every completed item had a delta first and its deltas concatenate to its transcript; the
    whole transcript is returned."""
    deltas: dict[str, list[str]] = {}
    transcripts = []
    for event in events:
        if event.type == "conversation.item.input_audio_transcription.delta":
            deltas.setdefault(event.item_id, []).append(event.delta)
        elif event.type == "conversation.item.input_audio_transcription.completed":
            if event.transcript:
                assert deltas.get(event.item_id), f"no delta before {event.item_id} completed"
            assert "".join(deltas.get(event.item_id, [])) == event.transcript, (deltas, event.transcript)
            assert event.usage.type == "duration" and event.usage.seconds > 0
            transcripts.append(event.transcript)
    assert transcripts, [e.type for e in events]
    return " ".join(t for t in transcripts if t)


async def test_ga_session_with_server_vad_streams_deltas_then_completed(core_address):
    async with sdk(core_address) as client:
        async with ga_session(client, format={"type": "audio/pcm", "rate": 24000},
                              transcription={"model": "gpt-4o-transcribe", "language": "en"},
                              turn_detection={"type": "server_vad", "threshold": 0.5,
                                              "silence_duration_ms": 500}) as connection:
            events = await streamed(connection, pcm24k(), 48000)
    types = [e.type for e in events]
    assert types[0] == "session.updated", types
    assert "input_audio_buffer.speech_started" in types and "input_audio_buffer.speech_stopped" in types
    assert types.index("input_audio_buffer.committed") < types.index(
        "conversation.item.input_audio_transcription.completed")
    assert "conversation.item.added" in types
    assert_jfk(assert_items_are_streamed(events))


async def test_ga_session_without_turn_detection_is_committed_by_the_client(core_address):
    async with sdk(core_address) as client:
        async with ga_session(client, format={"type": "audio/pcm", "rate": 24000}, turn_detection=None,
                              transcription={"model": "gpt-realtime-whisper"}) as connection:
            await stream_at_real_time(connection, pcm24k(), 48000)
            await connection.input_audio_buffer.commit()
            sender = asyncio.create_task(asyncio.sleep(0))
            events = await events_until_quiet(connection, sender)
    types = [e.type for e in events]
    assert "input_audio_buffer.speech_started" not in types
    committed = types.index("input_audio_buffer.committed")
    assert types.count("conversation.item.input_audio_transcription.completed") == 1
    assert committed < types.index("conversation.item.input_audio_transcription.completed")
    assert_jfk(assert_items_are_streamed(events))


async def test_ga_session_takes_g711_mulaw_at_8khz(core_address):
    async with sdk(core_address) as client:
        async with ga_session(client, format={"type": "audio/pcmu"}) as connection:
            events = await streamed(connection, mulaw(), TELEPHONY_RATE)
    assert events[0].session.audio.input.format.type == "audio/pcmu"
    assert_jfk(assert_items_are_streamed(events), G711_MAX_WER)


async def test_beta_session_is_answered_in_the_beta_shape(core_address):
    async with sdk(core_address) as client:
        async with client.beta.realtime.connect(model="gpt-4o-transcribe",
                                                extra_query={"intent": "transcription"}) as connection:
            created = await connection.recv()
            assert created.type == "transcription_session.created", created
            await connection.send({"type": "transcription_session.update", "session": {
                "input_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}})
            events = await streamed(connection, pcm24k(), 48000)
    types = [e.type for e in events]
    assert types[0] == "transcription_session.updated" and events[0].session.input_audio_format == "pcm16"
    assert "conversation.item.created" in types and "conversation.item.added" not in types
    assert_jfk(assert_items_are_streamed(events))


def dialogue_pcm24k() -> bytes:
    from tests.dialogues import two_speakers_kennedy_and_sonnets

    audio = np.concatenate([two_speakers_kennedy_and_sonnets().audio,
                            np.zeros(int(SAMPLE_RATE * TRAILING_SILENCE_SECONDS), np.float32)])
    return to_pcm16(soxr.resample(audio, SAMPLE_RATE, 24000))


async def test_gpt_4o_transcribe_diarize_sends_each_speaker_run_as_a_segment_before_completed(core_address):
    async with sdk(core_address) as client:
        async with ga_session(client, format={"type": "audio/pcm", "rate": 24000},
                              transcription={"model": "gpt-4o-transcribe-diarize", "language": "en"},
                              turn_detection={"type": "server_vad", "silence_duration_ms": 500}) as connection:
            events = await streamed(connection, dialogue_pcm24k(), 48000)
    assert_items_are_streamed(events)
    segments: dict[str, list[Any]] = {}
    for event in events:
        if event.type == "conversation.item.input_audio_transcription.segment":
            segments.setdefault(event.item_id, []).append(event)
        elif event.type == "conversation.item.input_audio_transcription.completed":
            assert " ".join(s.text for s in segments.get(event.item_id, [])) == event.transcript, event.item_id
    runs = [s for item in segments.values() for s in item]
    assert all(s.start <= s.end and s.content_index == 0 for s in runs)
    assert len({s.id for s in runs}) == len(runs)
    turns = [(speaker, " ".join(s.text for s in run)) for speaker, run in itertools.groupby(runs, lambda s: s.speaker)]
    assert [speaker for speaker, _ in turns] == ["A", "B", "A", "B"], turns
    assert "creatures" in turns[1][1] and "country" in turns[2][1], turns
