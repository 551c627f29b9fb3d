"""Every utterance the VAD accepts ends in exactly one final, and no final is invented, however
busy the machine is and however late decodes come back.

The first tests drive the Whisper streaming policy in-process with the real engine and slow its
decoder on purpose (the timing a busy machine produces, made deterministic); the last streams
through a core while competing processes keep both CPU cores busy.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bench.short_sentences import stream_once
from core_service.engines.base import Result, SessionSettings, SpeechBoundary, VadSettings
from core_service.engines.whisper import WhisperEngine, WhisperOptions
from core_service.segmenter.endpointer import Endpointer
from core_service.segmenter.speech_history import SpeechHistory
from core_service.vad import SileroVad
from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, silence, speech, wer
from tests.core.segmenter_fakes import finals as finals_of
from tests.speech_checks import CpuLoad, Recording, judge, short_sentences

CHUNK = 1600  # 0.1 s


@pytest.fixture(scope="module")
async def engine():
    engine = WhisperEngine(WhisperOptions())
    yield engine
    await engine.aclose()


async def run_policy(engine: WhisperEngine, audio: np.ndarray, *, partial_delay: float = 0.0,
                     pace: float = 0.0, max_utterance: float = 15.0, vad_threshold: float = 0.5,
                     final_delays: list[float] | None = None) -> list:
    """Stream `audio` through a Whisper RedecodeStream; partial decodes come back `partial_delay`
    seconds late, final ones each the next of `final_delays` late. Returns every emitted event."""
    settings = engine.resolve(SessionSettings(engine="whisper", model="", interim_results=True,
                                              vad=VadSettings(threshold=vad_threshold)))
    events: list = []
    stream = await engine.open_stream(settings, events.append)
    stream.max_utterance = max_utterance
    decode = stream._transcribe

    delays = iter(final_delays or [])

    async def slow_partials(clip: np.ndarray, final: bool, *rest):
        await asyncio.sleep(next(delays, 0.0) if final else partial_delay)
        return await decode(clip, final, *rest)

    stream._transcribe = slow_partials
    try:
        for i in range(0, len(audio), CHUNK):
            await stream.accept(audio[i:i + CHUNK])
            await asyncio.sleep(pace)
        await stream.finish()
    finally:
        await stream.close()
    return events


@pytest.mark.parametrize("partial_delay", [0.0, 3.0], ids=["partials-on-time", "partials-late"])
async def test_a_faint_short_sentence_gets_its_final_whenever_partials_come_back(engine, partial_delay):
    # "No matter." over a noisy line: at a VAD threshold of 0.6 the VAD hears 0.19 s of speech in
    # it, less than an utterance needs to count as confident speech. Its final used to depend on
    # whether a partial had come back before the utterance ended.
    recording = short_sentences()
    events = await run_policy(engine, recording.audio, partial_delay=partial_delay, pace=0.01, vad_threshold=0.6)
    finals = finals_of(events)
    verdict = judge(recording, finals)
    assert not verdict.lost and not verdict.invented, finals
    assert any("matter" in text.lower() for _, _, text in finals), finals


async def test_every_vad_utterance_ends_in_exactly_one_final(engine):
    recording = short_sentences()
    events = await run_policy(engine, recording.audio, partial_delay=3.0, vad_threshold=0.6)
    begins = [e for e in events if isinstance(e, SpeechBoundary) and e.kind == "begin"]
    finals = [e for e in events if isinstance(e, Result) and e.is_final]
    assert len(begins) == len(finals) == len({f.segment_id for f in finals}), finals


async def test_finals_do_not_depend_on_how_fast_decodes_come_back(engine):
    # Sentences with short pauses (where an utterance may end early at a sentence end) and
    # longer ones: sent at once with prompt decodes, and paced with decodes coming back late in
    # a scrambled order, the finals are the same, to the word and the millisecond.
    recording = short_sentences()
    audio = np.concatenate([recording.audio, speech(PARAGRAPH), silence(1.0)])
    rng = np.random.default_rng(5)
    quick = finals_of(await run_policy(engine, audio))
    slow = finals_of(await run_policy(engine, audio, pace=0.02, partial_delay=0.5,
                                      final_delays=list(rng.uniform(0.0, 1.5, 200))))
    assert quick == slow
    assert len(quick) >= 7, quick


async def test_a_long_session_keeps_every_final_as_its_context_grows(engine):
    # Ten sentences: by the ninth, the recent finals fill the prompt budget. A prompt that long
    # once left the decoder no room for text, and the last sentences came back empty.
    from bench.common import workload

    wl = workload()
    finals = finals_of(await run_policy(engine, wl.audio))
    verdict = judge(Recording(wl.audio, wl.spans, wl.texts), finals)
    assert not verdict.lost and not verdict.invented, finals
    assert wer(" ".join(wl.texts), " ".join(t for *_, t in finals)) <= 0.1, finals


def _speech_bounds(audio: np.ndarray) -> tuple[float, float]:
    endpointer = Endpointer(VadSettings())
    bounds = endpointer.update(SileroVad.shared().stream().probabilities(audio))
    return bounds[0].time, endpointer.last_speech


async def test_an_over_long_utterance_cut_in_its_trailing_silence_invents_nothing(engine):
    # The cut of an utterance at max_utterance lands after the last word but before the endpoint:
    # it used to close at the cut and open an empty utterance there, which the endpoint then
    # closed before its own start, and Whisper heard "you" in no audio at all.
    audio = np.concatenate([silence(0.3), speech(PARAGRAPH), silence(1.0)])
    begin, last_speech = _speech_bounds(audio)
    events = await run_policy(engine, audio, partial_delay=30.0, max_utterance=last_speech + 0.3 - begin)
    finals = finals_of(events)
    verdict = judge(Recording(audio, [(begin, last_speech)], (PARAGRAPH,)), finals)
    assert not verdict.lost and not verdict.invented, finals
    assert all(end <= last_speech + 0.25 for _, end, _ in finals), finals
    assert wer(PARAGRAPH, " ".join(t for _, _, t in finals)) <= 0.1, finals


async def test_trailing_silence_is_not_decoded_at_the_end_of_a_stream(engine):
    audio = np.concatenate([silence(0.3), speech("Set a timer for ten minutes."), silence(0.3)])
    _, last_speech = _speech_bounds(audio)
    events = await run_policy(engine, np.concatenate([audio, silence(0.1)]))
    [(_, end, text)] = finals_of(events)
    assert end <= last_speech + 0.2 and "timer" in text.lower()


def test_speech_history_answers_from_the_vad_alone():
    history = SpeechHistory()
    frame = 512 / SAMPLE_RATE
    history.extend(np.array([0.0] * 10 + [0.9] * 10 + [0.1] * 3 + [0.9] * 5 + [0.0] * 6, np.float32))
    assert history.voiced(0, history.end, 0.5) == pytest.approx(15 * frame)
    assert history.last_voice_end(0, history.end, 0.35) == pytest.approx(28 * frame)
    assert history.last_voice_end(0, 10 * frame, 0.35) is None
    # the longest pause inside the speech, not the silence before it
    assert history.best_pause(12 * frame, 27 * frame, 0.35) == pytest.approx(21.5 * frame)


async def test_short_sentences_streamed_on_a_busy_machine_lose_nothing(core_address):
    recording = short_sentences()
    sem = asyncio.Semaphore(4)

    async def one():
        async with sem:
            return await stream_once(core_address, recording, speed=2.0)

    with CpuLoad(2):
        outcomes = await asyncio.gather(*(one() for _ in range(20)))
    for out in outcomes:
        assert out.status == "OK"
        assert not out.lost and not out.invented, out
        assert out.begins == sum(1 for *_, text in out.finals if text.strip()), out
