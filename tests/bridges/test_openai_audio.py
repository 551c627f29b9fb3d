"""POST /v1/audio/transcriptions and /translations, GET /v1/models (docs/openai.md), driven by the
published `openai` SDK pointed at the bridge with `base_url`, with JFK's speech as MP3 and FLAC."""
from __future__ import annotations

import contextlib
from itertools import groupby
from typing import AsyncIterator

import httpx
import openai
import pytest

from bridges.openai import SPEC
from tests.encoded_audio import jfk_file
from transport_helpers import assert_jfk, running_bridge


@contextlib.asynccontextmanager
async def sdk(core_address: str, *flags: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with running_bridge(SPEC, core_address, *flags) as bridge:
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{bridge.port}/v1", api_key="unused", timeout=120,
                                    max_retries=0)
        async with client:
            yield client


def mp3() -> bytes:
    return jfk_file("MP3").read_bytes()


async def test_json_is_the_transcript_and_its_duration(core_address):
    async with sdk(core_address) as client:
        result = await client.audio.transcriptions.create(model="whisper-1", file=("jfk.mp3", mp3()))
    assert_jfk(result.text)
    assert result.usage.type == "duration" and result.usage.seconds in (11, 12)  # whole seconds, rounded up


async def test_text_is_the_transcript_alone(core_address):
    async with sdk(core_address) as client:
        text = await client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("jfk.mp3", mp3()),
                                                         response_format="text")
    assert isinstance(text, str) and text.endswith("\n")
    assert_jfk(text)


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
async def test_subtitles_have_one_timed_cue_per_segment(core_address, response_format):
    async with sdk(core_address) as client:
        text = await client.audio.transcriptions.create(model="whisper-1", file=("jfk.flac", jfk_file("FLAC").read_bytes()),
                                                         response_format=response_format)
    lines = text.strip().splitlines()
    separator = "," if response_format == "srt" else "."
    assert lines[0] == ("1" if response_format == "srt" else "WEBVTT")
    timed = [line for line in lines if " --> " in line]
    assert timed and all(separator in line.split(" --> ")[0] for line in timed), text
    assert_jfk(" ".join(line for line in lines if " --> " not in line and line not in ("WEBVTT", "") and not line.isdigit()))


async def test_verbose_json_has_segments_and_words_on_request(core_address):
    async with sdk(core_address) as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1", file=("jfk.mp3", mp3()), response_format="verbose_json", language="en",
            timestamp_granularities=["word", "segment"])
    assert_jfk(result.text)
    assert result.language == "en" and 10.5 < result.duration < 11.5
    assert result.segments and result.segments[0].start < 1.0 and result.segments[-1].end <= result.duration + 0.5
    assert " ".join(s.text for s in result.segments) == result.text
    assert len(result.words) >= 18 and all(w.start <= w.end for w in result.words)


def dialogue_flac() -> bytes:
    """Kennedy and the sonnets' reader in turns, one turn back to back inside one final."""
    import io

    import soundfile

    from tests.dialogues import two_speakers_kennedy_and_sonnets

    audio = io.BytesIO()
    soundfile.write(audio, two_speakers_kennedy_and_sonnets().audio, 16000, format="FLAC")
    return audio.getvalue()


def assert_turns(segments) -> None:
    turns = [(speaker, " ".join(s.text for s in run)) for speaker, run in groupby(segments, lambda s: s.speaker)]
    assert [speaker for speaker, _ in turns] == ["A", "B", "A", "B"]
    assert "country" in turns[2][1] and "creatures" in turns[1][1]
    assert all(s.type == "transcript.text.segment" and s.start < s.end for s in segments)
    assert [s.id for s in segments] == [f"seg_{i}" for i in range(len(segments))]


async def test_diarized_json_gives_speaker_segments_as_gpt_4o_transcribe_diarize_does(core_address):
    async with sdk(core_address) as client:
        result = await client.audio.transcriptions.create(model="gpt-4o-transcribe-diarize",
                                                           file=("dialogue.flac", dialogue_flac()),
                                                           response_format="diarized_json")
    assert_turns(result.segments)


async def test_diarized_json_streamed_sends_a_segment_event_per_speaker_run(core_address):
    async with sdk(core_address) as client:
        stream = await client.audio.transcriptions.create(model="gpt-4o-transcribe-diarize",
                                                           file=("dialogue.flac", dialogue_flac()),
                                                           response_format="diarized_json", stream=True)
        events = [event async for event in stream]
    assert events[-1].type == "transcript.text.done"
    assert "".join(e.delta for e in events if e.type == "transcript.text.delta") == events[-1].text
    assert_turns([e for e in events if e.type == "transcript.text.segment"])


async def test_stream_sends_deltas_then_done_with_usage(core_address):
    async with sdk(core_address) as client:
        stream = await client.audio.transcriptions.create(model="gpt-4o-mini-transcribe-2025-03-20",
                                                           file=("jfk.mp3", mp3()), stream=True)
        events = [event async for event in stream]
    assert [e.type for e in events[-1:]] == ["transcript.text.done"]
    deltas = [e.delta for e in events[:-1]]
    assert deltas and all(e.type == "transcript.text.delta" for e in events[:-1])
    assert "".join(deltas) == events[-1].text
    assert_jfk(events[-1].text)
    assert events[-1].usage.seconds in (11, 12)


async def test_translations_are_english_text(core_address):
    async with sdk(core_address) as client:
        result = await client.audio.translations.create(model="whisper-1", file=("jfk.mp3", mp3()))
    assert_jfk(result.text)


async def test_models_lists_openai_names_and_the_core_models(core_address):
    async with sdk(core_address) as client:
        ids = [model.id async for model in client.models.list()]
        one = await client.models.retrieve("whisper/tiny.en")
    assert {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"} <= set(ids)
    assert "whisper/tiny.en" in ids and one.id == "whisper/tiny.en" and one.owned_by == "whisper"
