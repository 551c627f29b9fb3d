"""Google engine, its streams: the real google-cloud-speech client, through the real core,
against the fake Speech server (google_helpers.py). Google limits a stream's length and fails
an idle one, so the engine restarts, drains and half-closes streams; these tests prove that
restarts lose and repeat no speech, keep times continuous and segment ids in order, and that
nothing is delivered after close."""
from __future__ import annotations

import asyncio
import zlib

import grpc
import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, silence, speech, to_pcm16, with_pauses
from tests.core.grpc_helpers import Call, audio_requests, recognize
from tests.engines.engine_helpers import needs
from tests.engines.google_helpers import (BYTES_PER_SECOND, ENDPOINT_SECONDS, IDLE_SECONDS, MAX_BACKLOG_SECONDS,
                                          RESTART_SECONDS, UTTERANCES, five_seconds, google_config)
from tests.engines.shape import seconds, speech_events
from tests.support import running_core

pytestmark = [needs("google.cloud.speech_v1", "google"), pytest.mark.usefixtures("fresh")]


def check_speech_finals(call: Call, pcm: bytes, language: str = "") -> list[tuple[float, float]]:
    """Every final names a speech region by crc32 and one word spanning it, in session time:
    the session audio at that span must be exactly what was finalized, every speech region of
    the session must be finalized once, and finals must tile the timeline. Returns the spans."""
    from tests.engines.fake_google import speech_regions

    assert call.code == grpc.StatusCode.OK, call.message
    finals = call.finals
    assert [f.segment_id for f in finals] == list(range(1, len(finals) + 1))
    spans, t = [], 0.0
    for f in finals:
        _, crc, size = f.text.split()
        (word,) = f.words
        a, b = seconds(word.start_offset), seconds(word.end_offset)
        lo, hi = round(a * BYTES_PER_SECOND), round(b * BYTES_PER_SECOND)
        assert hi - lo == int(size) and f"{zlib.crc32(pcm[lo:hi]):08x}" == crc, \
            f"final {f.segment_id} at {a:.3f}-{b:.3f} s is not the session audio there"
        assert abs(seconds(f.start_offset) - t) < 1e-6 and abs(seconds(f.end_offset) - b) < 1e-6
        assert f.stability == 1.0 and (not language or f.language == language)
        spans.append((a, b))
        t = b
    regions = [(s / BYTES_PER_SECOND, e / BYTES_PER_SECOND) for s, e in speech_regions(pcm, ENDPOINT_SECONDS)]
    assert len(spans) == len(regions), (spans, regions)
    for (a, b), (s, e) in zip(spans, regions):  # the same speech, give or take one 20 ms frame
        assert abs(a - s) <= 0.02 + 1e-6 and abs(b - e) <= 0.02 + 1e-6, ((a, b), (s, e))
    open_id = 1
    for r in call.results:  # interims share the id of the final that follows
        assert r.segment_id == open_id
        open_id += r.is_final
    return spans


def check_streams_carry_the_session(fake, pcm: bytes, budget: float, backlog: float = MAX_BACKLOG_SECONDS) -> list[int]:
    """Each Google stream got a contiguous slice of the session within the audio budget, made
    of at most `backlog` seconds already sent and then new audio; no audio was skipped.
    Returns each stream's start in the session (bytes)."""
    fake.wait_finished()
    starts, covered = [], 0
    for s in fake.streams:
        assert len(s.audio) <= budget * BYTES_PER_SECOND, len(s.audio) / BYTES_PER_SECOND
        assert max(s.request_sizes) <= 25 * 1024 and not s.failed
        start = pcm.find(bytes(s.audio), max(covered - int(backlog * BYTES_PER_SECOND), 0))
        assert 0 <= start <= covered, "a stream got audio out of order, or audio was skipped"
        assert start + len(s.audio) > covered, "a stream carried no new audio"
        starts.append(start)
        covered = start + len(s.audio)
    assert covered == len(pcm)
    return starts


async def test_restarts_lose_no_speech_and_keep_times_continuous(google_core, fake):
    audio, _ = with_pauses(UTTERANCES * 3, pause=1.2)  # ~18 s: several restarts at 6 s
    pcm = to_pcm16(audio)
    call = await recognize(google_core.address, [google_config(
        language="de-DE", interim_results=True, enable_word_time_offsets=True, enable_automatic_punctuation=True,
    )] + audio_requests(pcm, chunk=BYTES_PER_SECOND // 2), pace=0.05)  # 16 KB messages: the engine splits them
    assert call.code == grpc.StatusCode.OK, call.message
    started = call.responses[0].session_started
    assert (started.engine, started.model) == ("google", "default")

    # what Google received: the config we mapped, small requests, the session audio in slices
    assert len(fake.streams) >= 4, "18 s of audio with 6 s restarts (4 s backlog) needs at least 4 Google streams"
    for s in fake.streams:
        c = s.config.config
        assert c.language_code == "de-DE" and c.sample_rate_hertz == 16000 and c.audio_channel_count == 1
        assert c.encoding == c.AudioEncoding.LINEAR16
        assert c.enable_automatic_punctuation and c.enable_word_time_offsets
        assert s.config.interim_results
    check_streams_carry_the_session(fake, pcm, RESTART_SECONDS)

    # what our client saw: each utterance finalized once, where it is in the session, in de-DE
    # (Google answers `de-de`), interims only during speech
    spans = check_speech_finals(call, pcm, language="de-DE")
    assert len(spans) == 6
    assert any(not r.is_final for r in call.results)
    for r in call.results:
        assert r.is_final or (r.text.startswith("heard ") and 0 < r.stability < 1 and r.language == "de-DE")
    events = speech_events(call)
    assert [k for k, _ in events] == ["begin", "end"] * 6, events  # once per region, not per stream
    assert call.responses[-1].summary.segment_count == 6


async def test_restart_in_the_middle_of_a_word_resends_the_word_whole(google_core, fake):
    from tests.engines.fake_google import FRAME_BYTES, speech_regions, voiced

    clip = to_pcm16(speech(UTTERANCES[0]))
    # put a voiced frame ~1 s into the utterance at the 6 s audio budget of stream 1 (the core
    # may hand the engine several messages at once, so the cut can come a little earlier)
    v = next(i for i in range(BYTES_PER_SECOND, len(clip), FRAME_BYTES) if voiced(clip[i:i + FRAME_BYTES]))
    lead = int(RESTART_SECONDS * BYTES_PER_SECOND) - v - FRAME_BYTES // 2
    lead -= lead % 2
    pcm = bytes(lead) + clip + to_pcm16(silence(1.0))
    call = await recognize(google_core.address, [google_config(interim_results=True)]
                           + audio_requests(pcm, chunk=1600))
    (start, end), = speech_regions(pcm, ENDPOINT_SECONDS)
    first = fake.streams[0]
    cut = len(first.audio)
    assert start + BYTES_PER_SECOND // 4 < cut < end, (
        "the restart did not come in the middle of the utterance",
        [(len(s.audio) / BYTES_PER_SECOND, s.half_closed) for s in fake.streams],
        [line for line in google_core.log().splitlines() if "google stream" in line][-5:])
    assert first.finals, "the half-closed first stream finalized nothing (the half word it heard)"
    starts = check_streams_carry_the_session(fake, pcm, RESTART_SECONDS)
    assert starts[1] <= start, "the restarted stream did not get the beginning of the word"
    (span,) = check_speech_finals(call, pcm)  # that half word was discarded; the whole word came
    assert span[0] < cut / BYTES_PER_SECOND < span[1]


async def test_a_final_google_sends_after_the_restart_still_counts(google_core, fake):
    """Google finalizes behind the audio; a restart can come before the final of an utterance
    that the next stream does not get again (it is older than the re-sent backlog). The old
    stream's final is delivered; the new stream's results wait for it."""
    fake.late_finals = True
    clip = to_pcm16(speech(UTTERANCES[1]))
    pcm = to_pcm16(silence(0.3)) + clip + to_pcm16(silence(8.0 - 0.3 - len(clip) / BYTES_PER_SECOND))
    call = await recognize(google_core.address, [google_config(interim_results=True)]
                           + audio_requests(pcm, chunk=BYTES_PER_SECOND // 2))
    starts = check_streams_carry_the_session(fake, pcm, RESTART_SECONDS)
    (start, end), = fake.streams[0].finals
    assert len(fake.streams) == 2 and starts[1] >= end, "the new stream got the utterance again"
    (span,) = check_speech_finals(call, pcm)
    assert span == (start / BYTES_PER_SECOND, end / BYTES_PER_SECOND)


@pytest.fixture(scope="module")
def google_core_defaults(fake, tmp_path_factory):
    """Google's real stream limits: the default 290 s budget and 30 s backlog."""
    with running_core(tmp_path_factory.mktemp("core-google-defaults"), env={"ASR_GOOGLE_ENDPOINT": fake.address}) as core:
        yield core


async def test_ten_minutes_of_silence_then_speech_in_one_session(google_core_defaults, fake):
    """Google sends nothing during silence, so no final ever trims the backlog; streams must
    still stay under Google's 305 s limit (the fake enforces it with Google's OUT_OF_RANGE).
    Time-compressed: ten minutes of audio sent as fast as the core takes it."""
    clip = to_pcm16(speech(UTTERANCES[1]))
    pcm = to_pcm16(silence(600.0)) + clip + to_pcm16(silence(1.0))
    call = await recognize(google_core_defaults.address, [google_config(interim_results=True)]
                           + audio_requests(pcm, chunk=BYTES_PER_SECOND), timeout=300)
    assert call.code == grpc.StatusCode.OK, call.message
    assert len(fake.streams) >= 3 and not any(s.failed for s in fake.streams)
    starts = check_streams_carry_the_session(fake, pcm, 290.0, backlog=30.0)
    for s, start, prev in zip(fake.streams[1:], starts[1:], starts):
        resent = prev + len(fake.streams[fake.streams.index(s) - 1].audio) - start
        assert resent <= 30 * BYTES_PER_SECOND, "more than the 30 s backlog re-sent in one burst"
    (span,) = check_speech_finals(call, pcm)
    assert 600.0 <= span[0] < span[1] <= len(pcm) / BYTES_PER_SECOND
    assert all(seconds(r.end_offset) > 600.0 for r in call.results), "results during silence"


async def test_finalize_drains_the_google_stream_and_continues_in_a_new_one(google_core, fake):
    pcm = to_pcm16(speech("Please turn on the kitchen lights."))[:int(1.4 * BYTES_PER_SECOND)]
    half = len(pcm) // 2
    finalize = asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))
    call = await recognize(google_core.address, [google_config(vad=asr_pb2.VadConfig(enabled=False))]
                           + audio_requests(pcm[:half]) + [finalize] + audio_requests(pcm[half:]))
    assert call.code == grpc.StatusCode.OK, call.message
    first, second = call.finals
    assert seconds(first.end_offset) <= 0.7 + 1e-6 and seconds(second.words[0].start_offset) >= 0.7 - 1e-6
    assert len(fake.streams) == 2 and all(s.half_closed for s in fake.streams)
    assert [bytes(s.audio) for s in fake.streams] == [pcm[:half], pcm[half:]]
    assert not fake.streams[0].config.enable_voice_activity_events
    assert not speech_events(call) and not any(not r.is_final for r in call.results)


async def test_a_pause_in_the_audio_half_closes_the_google_stream_in_time(google_core, fake):
    """Google fails a stream after ~10 s without audio; the engine drains it first and opens a
    new one when audio resumes, with times continuing where they were."""
    pcm = five_seconds()[:BYTES_PER_SECOND]
    half = len(pcm) // 2
    call = await recognize(google_core.address, [google_config()] + audio_requests(pcm[:half], chunk=half)
                           + audio_requests(pcm[half:], chunk=half), pace=IDLE_SECONDS + 1.0)
    assert call.code == grpc.StatusCode.OK, call.message
    first, second = fake.streams
    assert bytes(first.audio) == pcm[:half] and bytes(second.audio) == pcm[half:]
    assert first.half_closed and first.half_closed_at < second.first_audio_at
    a, b = call.finals
    assert seconds(a.end_offset) <= 0.5 + 1e-6 <= seconds(b.words[0].start_offset) + 2e-6


async def test_late_final_of_a_drained_stream_keeps_its_own_segment_id(google_core, fake):
    """After an idle drain, Google takes a moment to finalize the old stream while the next
    stream already sends interims: the old final must come first, with its own id."""
    fake.half_close_delay = 2.0  # the old final comes after the new stream's interims
    clip = to_pcm16(speech(UTTERANCES[0]))
    a, b = clip[:BYTES_PER_SECOND // 2], clip[BYTES_PER_SECOND // 2:BYTES_PER_SECOND]
    call = await recognize(google_core.address, [google_config(interim_results=True)]
                           + audio_requests(a, chunk=len(a)) + audio_requests(b, chunk=len(b)), pace=IDLE_SECONDS + 1.0)
    assert call.code == grpc.StatusCode.OK, call.message
    assert len(fake.streams) == 2
    kinds = [(r.segment_id, r.is_final) for r in call.results]
    first_final = kinds.index((1, True))
    assert all(k == (1, False) for k in kinds[:first_final]), kinds
    assert (2, False) in kinds[first_final:] and kinds[-1] == (2, True), kinds
    f1, f2 = call.finals
    assert seconds(f1.words[0].end_offset) <= 0.5 + 1e-6 <= seconds(f2.words[0].start_offset) + 1e-6


async def test_close_emits_nothing_afterwards(fake):
    """A cancelled session: streams still finishing must not deliver results after close()."""
    from core_service.engines.base import SessionSettings
    from core_service.engines.google import GoogleEngine

    fake.half_close_delay = 0.6
    engine = GoogleEngine(endpoint=fake.address, idle_seconds=0.2)
    events: list = []
    settings = engine.resolve(SessionSettings(engine="google", model=""))
    stream = await engine.open_stream(settings, events.append)
    await stream.accept(speech(UTTERANCES[0])[:SAMPLE_RATE])
    await asyncio.sleep(0.4)  # the idle drain half-closed the Google stream; its final is delayed
    assert fake.streams[0].half_closed
    await stream.close()
    seen = len(events)
    await asyncio.sleep(1.0)
    from tests.engines.fake_google import speech_regions

    # a final was owed (speech was heard and not yet finalized) when close() came
    assert speech_regions(bytes(fake.streams[0].audio), ENDPOINT_SECONDS)
    assert not any(getattr(e, "is_final", False) for e in events)
    assert len(events) == seen, events[seen:]
    await engine.aclose()


def test_fake_enforces_googles_305_second_limit(fake):
    """The fake fails a stream past 305 s with Google's own error, as the engine must avoid."""
    from google.api_core import exceptions as gexc
    from google.cloud import speech_v1
    from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

    from tests.engines.fake_google import LIMIT_MESSAGE

    client = speech_v1.SpeechClient(transport=SpeechGrpcTransport(channel=grpc.insecure_channel(fake.address)))
    cfg = speech_v1.StreamingRecognitionConfig(config=speech_v1.RecognitionConfig(
        encoding=speech_v1.RecognitionConfig.AudioEncoding.LINEAR16, sample_rate_hertz=16000, language_code="en-US"))
    second = bytes(BYTES_PER_SECOND // 2)
    requests = (speech_v1.StreamingRecognizeRequest(audio_content=second) for _ in range(2 * 306))
    with pytest.raises(gexc.OutOfRange, match=LIMIT_MESSAGE):
        for _ in client.streaming_recognize(cfg, requests, retry=None, timeout=60):
            pass
    assert fake.streams[0].failed == "OUT_OF_RANGE" and len(fake.streams[0].audio) > 305 * BYTES_PER_SECOND
