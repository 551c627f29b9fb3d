"""The SDK against a real core (faster-whisper tiny.en) with synthesized speech."""
from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients import (
    AudioFileError,
    Finalize,
    Recognizer,
    RecognizerClient,
    RecognizerError,
    Result,
    SessionStarted,
    SpeechEvent,
    StreamConfig,
    Summary,
)
from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16, wer


def _chunks(pcm: bytes, size: int = 3200) -> list[bytes]:
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


async def test_odd_byte_count_is_invalid_argument_with_field_violation(core_address):
    async def audio():
        yield b"\0" * 3200
        yield b"\0" * 3201  # half a sample: LINEAR16 frames are 2 bytes

    async with RecognizerClient(core_address, timeout=60) as client:
        with pytest.raises(RecognizerError) as info:
            async for _ in client.stream(audio(), StreamConfig()):
                pass
    err = info.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.field_violations, f"no BadRequest field violation in {err!r}"
    assert any(v.field.endswith("audio") for v in err.field_violations), err.field_violations
    assert "3201" in err.message or "whole number" in err.message
    assert err.retry_after is None and err.address == core_address


async def test_bad_config_is_rejected_with_the_field(core_address):
    async with RecognizerClient(core_address, timeout=60) as client:
        with pytest.raises(RecognizerError) as info:
            async for _ in client.stream([b"\0\0"], StreamConfig(sample_rate_hertz=1234)):
                pass
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any("sample_rate" in v.field for v in info.value.field_violations), info.value


async def test_stream_yields_typed_events_in_protocol_order(core_address):
    audio = np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(0.8), speech(UTTERANCES[1]), silence(0.6)])
    config = StreamConfig(interim_results=True, word_time_offsets=True, session_id="sdk-order-test")
    async with RecognizerClient(core_address, timeout=120) as client:
        events = [e async for e in client.stream(_chunks(to_pcm16(audio)), config)]

    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], Summary)
    started, summary = events[0], events[-1]
    assert started.session_id == "sdk-order-test" and started.engine and started.model
    assert started.config.sample_rate_hertz == 16000 and started.config.interim_results
    assert not any(isinstance(e, (SessionStarted, Summary)) for e in events[1:-1])

    finals = [e for e in events if isinstance(e, Result) and e.is_final]
    assert len(finals) >= 2 and summary.segment_count == len(finals)
    assert [f.segment_id for f in finals] == sorted({f.segment_id for f in finals})
    assert all(isinstance(f.start, float) and 0 <= f.start < f.end <= len(audio) / 16000 + 0.1 for f in finals)
    assert summary.audio_processed == pytest.approx(len(audio) / 16000, abs=0.05)
    assert wer(" ".join(UTTERANCES[:2]), summary.transcript) <= 0.1, summary.transcript
    # Partials come before the final of their segment.
    for p in (e for e in events if isinstance(e, Result) and not e.is_final):
        final_index = next(i for i, e in enumerate(events) if isinstance(e, Result) and e.is_final and e.segment_id == p.segment_id)
        assert events.index(p) < final_index
    assert any(isinstance(e, SpeechEvent) and e.kind == "begin" for e in events)
    words = [w for f in finals for w in f.words]
    assert words and all(w.start <= w.end for w in words)


async def test_finalize_control_flushes_the_open_utterance(core_address):
    text = UTTERANCES[2]
    pcm = to_pcm16(np.concatenate([silence(0.2), speech(text)]))  # no trailing silence: VAD cannot end it

    async def audio():
        for chunk in _chunks(pcm):
            yield chunk
        yield Finalize()
        yield to_pcm16(silence(0.2))

    async with RecognizerClient(core_address, timeout=120) as client:
        events = [e async for e in client.stream(audio(), StreamConfig())]
    finals = [e for e in events if isinstance(e, Result) and e.is_final]
    assert finals and wer(text, finals[0].text) <= 0.2, finals


async def test_transcribe_file_asks_for_accurate_segmentation_unless_paced_or_told(core_address, short_wav):
    async with RecognizerClient(core_address, timeout=120) as client:
        as_fast = await client.transcribe_file(short_wav.path, StreamConfig(interim_results=False))
        paced = await client.transcribe_file(short_wav.path, StreamConfig(interim_results=False), realtime=True)
        told = await client.transcribe_file(short_wav.path, StreamConfig(interim_results=False, segmentation="live"))
    assert [t.session.config.segmentation for t in (as_fast, paced, told)] == ["accurate", "live", "live"]
    # sent as it is (the core decodes it), except when paced: decoded here, sent as PCM
    assert [t.session.config.encoding for t in (as_fast, paced, told)] == ["auto", "linear16", "auto"]


async def test_transcribe_file_and_a_failing_source(core_address, paragraph_flac, tmp_path):
    async with RecognizerClient(core_address, timeout=180) as client:
        transcript = await client.transcribe_file(paragraph_flac.path, StreamConfig(interim_results=False))
        assert wer(paragraph_flac.text, transcript.text) <= 0.1, transcript.text
        assert transcript.summary and transcript.audio_duration == pytest.approx(paragraph_flac.seconds, abs=0.1)
        assert transcript.text == " ".join(s.text.strip() for s in transcript.segments)

        # The source breaking mid-stream surfaces as the source's own exception, not a gRPC one.
        async def broken():
            yield b"\0" * 3200
            await asyncio.sleep(0.05)
            raise OSError("microphone unplugged")

        with pytest.raises(OSError, match="unplugged"):
            async for _ in client.stream(broken()):
                pass

        # The channel is still usable afterwards.
        assert (await client.list_engines()).engines

    async with RecognizerClient(core_address) as client:
        with pytest.raises(AudioFileError):
            await client.transcribe_file(tmp_path / "missing.flac")


def test_sync_wrapper(core_address):
    recognizer = Recognizer(core_address, timeout=120)
    listing = recognizer.list_engines()
    assert listing.default_engine in {e.name for e in listing.engines}
    default = next(e for e in listing.engines if e.name == listing.default_engine)
    assert default.available and default.models
    events = recognizer.transcribe_pcm(to_pcm16(np.concatenate([speech(UTTERANCES[0]), silence(0.5)])))
    summary = events[-1]
    assert isinstance(summary, Summary) and wer(UTTERANCES[0], summary.transcript) <= 0.2
