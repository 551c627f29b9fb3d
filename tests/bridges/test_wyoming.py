"""The Wyoming bridge (bridges/wyoming/) driven by the published `wyoming` package's own client
(`AsyncTcpClient`, pinned in pyproject.toml), as Home Assistant's integration uses it: describe
and info, a streamed transcription of real speech, two transcriptions on one connection (the
second in another format, made by the package's AudioChunkConverter), bad events beside it."""
from __future__ import annotations

import asyncio
import json

from wyoming.asr import Transcribe, Transcript, TranscriptChunk
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info

from bridges.wyoming import SPEC
from transport_helpers import assert_jfk, jfk_pcm, running_bridge

SAMPLES_PER_CHUNK = 1024  # what wyoming-satellite and Home Assistant send per audio-chunk
READ_TIMEOUT = 90


async def read_until(client: AsyncTcpClient, last: str) -> list[Event]:
    events = []
    while True:
        event = await asyncio.wait_for(client.read_event(), READ_TIMEOUT)
        assert event is not None, f"connection closed after {[e.type for e in events]}"
        events.append(event)
        if event.type == last:
            return events


async def transcribe(client: AsyncTcpClient, chunk: AudioChunk, language: str = "en") -> list[Event]:
    """One request as the package's users send it; every event until transcript-stop."""
    await client.write_event(Transcribe(language=language).event())
    await client.write_event(AudioStart(rate=chunk.rate, width=chunk.width, channels=chunk.channels).event())
    step = SAMPLES_PER_CHUNK * chunk.width * chunk.channels
    for i in range(0, len(chunk.audio), step):
        await client.write_event(AudioChunk(rate=chunk.rate, width=chunk.width, channels=chunk.channels,
                                            audio=chunk.audio[i:i + step]).event())
    await client.write_event(AudioStop().event())
    return await read_until(client, "transcript-stop")


def assert_streamed(events: list[Event]) -> str:
    """transcript-start, transcript-chunks, transcript, transcript-stop (the README's order);
    the chunks concatenate to the transcript. Returns its text."""
    kinds = [e.type for e in events]
    assert kinds[0] == "transcript-start" and kinds[-2:] == ["transcript", "transcript-stop"], kinds
    assert set(kinds[1:-2]) == {"transcript-chunk"}, kinds
    transcript = Transcript.from_event(events[-2])
    assert "".join(TranscriptChunk.from_event(e).text for e in events[1:-2]) == transcript.text
    assert transcript.language == "en"
    return transcript.text


JFK = AudioChunk(rate=16000, width=2, channels=1, audio=jfk_pcm())


async def test_describe_is_answered_with_info_listing_the_cores_models(core_address):
    async with running_bridge(SPEC, core_address) as bridge:
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), READ_TIMEOUT)
    info = Info.from_event(event)
    [program] = info.asr
    assert program.supports_transcript_streaming and program.installed, program
    assert program.models and all(m.installed for m in program.models), program
    assert any("en" in m.languages for m in program.models), program.models
    assert all("/" in m.name for m in program.models), "models are named engine/model"


async def test_real_speech_streams_chunks_that_make_up_the_transcript(core_address):
    async with running_bridge(SPEC, core_address) as bridge:
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
            events = await transcribe(client, JFK)
    assert_jfk(assert_streamed(events))


async def test_two_transcriptions_on_one_connection_the_second_converted_by_the_package(core_address):
    stereo_24_bit = AudioChunkConverter(rate=22050, width=3, channels=2).convert(JFK)
    async with running_bridge(SPEC, core_address) as bridge:
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
            first = await transcribe(client, JFK)
            second = await transcribe(client, stereo_24_bit)
    assert_jfk(assert_streamed(first))
    assert_jfk(assert_streamed(second))


async def test_bad_events_get_error_events_and_the_connection_goes_on(core_address):
    async with running_bridge(SPEC, core_address) as bridge:
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
            client._writer.write(b"this is not an event header\n")
            malformed = Error.from_event(await client.read_event())
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=b"\0\0" * 160).event())
            early = Error.from_event(await client.read_event())
            await client.write_event(Event("select-program", {"name": "asr-gateway"}))  # unknown to us: dropped
            await client.write_event(AudioStart(rate=16000, width=5, channels=1).event())
            bad_width = Error.from_event(await client.read_event())
            events = await transcribe(client, JFK)
    assert malformed.code == "malformed-event", malformed
    assert early.code == "audio-before-start" and "audio-start" in early.text, early
    assert bad_width.code == "invalid-event" and "width" in bad_width.text, bad_width
    assert_jfk(assert_streamed(events))


async def test_a_payload_over_the_limit_gets_an_error_event_and_a_clean_close(core_address):
    async with running_bridge(SPEC, core_address, "--max-message-bytes", "20000") as bridge:
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
            header = {"type": "audio-chunk", "payload_length": 32000, "data": {"rate": 16000, "width": 2, "channels": 1}}
            client._writer.write(json.dumps(header).encode() + b"\n")
            error = Error.from_event(await asyncio.wait_for(client.read_event(), READ_TIMEOUT))
            after = await asyncio.wait_for(client.read_event(), READ_TIMEOUT)
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:  # the next client is served
            events = await transcribe(client, JFK)
    assert error.code == "client-error" and "20000-byte limit" in error.text, error
    assert after is None, "the connection is closed after the error"
    assert_jfk(assert_streamed(events))
