"""The segmenter's rules (docs/streaming.md "Streaming policy", docs/engines.md), one test each, driven by
scripted VAD probabilities and a decoder that reads its text off the audio: no model.

Times: a frame is 32 ms; the endpointer pads speech by 0.2 s on each side, and a clip ends
0.12 s after its last voiced frame.
"""
from __future__ import annotations

import numpy as np
import pytest

from core_service.engines.base import SessionSettings, VadSettings
from core_service.engines.whisper_decoder import Transcript
from core_service.segmenter.endpointer import Endpointer
from core_service.segmenter.redecode import RedecodeStream
from core_service.segmenter.sentence_end import MAX_OUTSTANDING
from tests.core.segmenter_fakes import (
    CHUNK, FAINT, SENTENCE_END, SPEECH, ClipDecoder, ScriptedVad, at, boundaries, finals, frames, partials, run,
)

PAD = 0.2  # the endpointer's pad before the first and after the last speech frame
CLIP_PAD = 0.12  # kept after the last voiced frame of a clip


def approx(value: float) -> float:
    return pytest.approx(value, abs=1e-3)


# ---- the endpointer -----------------------------------------------------------------------

def test_speech_begins_at_the_first_frame_over_the_threshold_less_the_pad():
    [begin] = Endpointer(VadSettings()).update(np.array([0.1] * 20 + [0.5] + [0.9] * 5, np.float32))
    assert (begin.kind, begin.time) == ("begin", approx(at(20) - PAD))


def test_speech_ends_after_min_silence_at_the_last_speech_frame_plus_the_pad():
    endpointer = Endpointer(VadSettings(min_silence=0.5))
    assert [b.kind for b in endpointer.update(np.array([0.0] * 20 + [0.9] * 30 + [0.0] * 15, np.float32))] == ["begin"]
    [end] = endpointer.update(np.array([0.0], np.float32))  # the 16th silent frame: 0.512 s of silence
    assert (end.kind, end.time) == ("end", approx(at(50) + PAD))


def test_frames_between_the_low_and_the_high_threshold_keep_speech_going():
    # threshold 0.5: speech begins at 0.5 and goes on while frames stay at or above 0.35
    endpointer = Endpointer(VadSettings(threshold=0.5, min_silence=0.3))
    assert [b.kind for b in endpointer.update(np.array([0.9] * 10 + [0.4] * 40, np.float32))] == ["begin"]
    assert [b.kind for b in endpointer.update(np.array([0.3] * 10, np.float32))] == ["end"]


def test_a_burst_shorter_than_min_speech_is_noise():
    short, long = Endpointer(VadSettings()), Endpointer(VadSettings())
    short.update(np.array([0.9] * 7 + [0.0] * 20, np.float32))  # 0.224 s
    long.update(np.array([0.9] * 8 + [0.0] * 20, np.float32))  # 0.256 s
    assert short.utterance_is_noise() and not long.utterance_is_noise()


# ---- utterances ---------------------------------------------------------------------------

async def test_an_utterance_spans_its_speech_and_its_clip_ends_after_the_last_voiced_frame():
    events = await run(frames((0.0, 20), (SPEECH, 30), (0.0, 40)))
    start, end = at(20) - PAD, at(50) + CLIP_PAD
    assert boundaries(events) == [("begin", approx(start)), ("end", approx(end))]
    assert finals(events) == [(approx(start), approx(end), "w30")]


async def test_silence_shorter_than_min_silence_does_not_end_an_utterance():
    audio = frames((0.0, 20), (SPEECH, 20), (0.0, 13), (SPEECH, 20), (0.0, 40))  # a 0.416 s pause
    assert [text for *_, text in finals(await run(audio, min_silence=0.5))] == ["w20 w20"]
    assert [text for *_, text in finals(await run(audio, min_silence=0.3))] == ["w20", "w20"]


async def test_confident_speech_gets_partials_and_one_final():
    decoder = ClipDecoder()
    events = await run(frames((0.0, 20), (SPEECH, 60), (0.0, 40)), decoder)
    assert partials(events) and decoder.partials == len(partials(events))
    assert [text for *_, text in finals(events)] == ["w60"]


async def test_a_weak_utterance_gets_one_final_decode_and_no_partial():
    decoder = ClipDecoder()  # 0.192 s of speech: the VAD begins an utterance, but it is weak
    events = await run(frames((0.0, 20), (SPEECH, 6), (0.0, 40)), decoder)
    assert (decoder.partials, decoder.finals) == (0, 1)
    assert partials(events) == [] and [text for *_, text in finals(events)] == ["w6"]


async def test_a_weak_utterance_the_decoder_hears_no_speech_in_gives_no_final():
    decoder = ClipDecoder()  # a cough: over the VAD threshold, no speech to the decoder
    events = await run(frames((0.0, 20), (FAINT, 6), (0.0, 40)), decoder)
    assert decoder.finals == 1 and finals(events) == []
    assert [kind for kind, _ in boundaries(events)] == ["begin", "end"]


# ---- sentence ends ------------------------------------------------------------------------

async def test_an_utterance_ends_at_a_short_pause_after_a_sentence_end():
    # 0.32 s pauses: shorter than min_silence, longer than the 0.2 s sentence-end silence
    audio = frames((0.0, 20), (SPEECH, 20), (0.0, 10), (SENTENCE_END, 20), (0.0, 10), (SPEECH, 20), (0.0, 40))
    assert finals(await run(audio)) == [
        (approx(at(20) - PAD), approx(at(70) + CLIP_PAD), "w20 w20."),
        (approx(at(80) - PAD), approx(at(100) + CLIP_PAD), "w20"),
    ]
    without = frames((0.0, 20), (SPEECH, 20), (0.0, 10), (SPEECH, 20), (0.0, 10), (SPEECH, 20), (0.0, 40))
    assert [text for *_, text in finals(await run(without))] == ["w20 w20 w20"]


async def test_a_sentence_end_waits_for_the_endpoint_in_an_utterance_shorter_than_sentence_end_after():
    # the same 0.32 s pauses: the sentence ends 1.6 s into one utterance, 6.7 s into the other
    short = frames((0.0, 20), (SPEECH, 20), (0.0, 10), (SENTENCE_END, 20), (0.0, 10), (SPEECH, 20), (0.0, 40))
    assert [text for *_, text in finals(await run(short, sentence_end_after=5.0))] == ["w20 w20. w20"]
    long = frames((0.0, 20), (SPEECH, 100), (0.0, 10), (SENTENCE_END, 100), (0.0, 10), (SPEECH, 20), (0.0, 40))
    assert finals(await run(long, sentence_end_after=5.0)) == [
        (approx(at(20) - PAD), approx(at(230) + CLIP_PAD), "w100 w100."),
        (approx(at(240) - PAD), approx(at(260) + CLIP_PAD), "w20"),
    ]


async def test_a_sentence_end_decoded_after_the_speaker_went_on_splits_the_utterance_there():
    audio = frames((0.0, 20), (SPEECH, 20), (0.0, 10), (SENTENCE_END, 20), (0.0, 10), (SPEECH, 20), (0.0, 40))
    idle = await run(audio)
    busy_decoder = ClipDecoder(hold_finals=True)  # every final-priority decode comes back after the audio
    busy = await run(audio, busy_decoder)
    assert finals(busy) == finals(idle) and len(finals(busy)) == 2
    assert busy_decoder.finals >= 2


async def test_at_most_max_outstanding_sentence_end_decodes_are_out_and_decisions_do_not_change():
    # eight words with 0.32 s pauses, no sentence end: every pause wants a decode
    script = [(0.0, 20)]
    for _ in range(8):
        script += [(SPEECH, 15), (0.0, 10)]
    audio = frames(*script, (0.0, 40))
    busy_decoder = ClipDecoder(hold_finals=True)
    busy = await run(audio, busy_decoder)
    assert busy_decoder.most_in_flight == MAX_OUTSTANDING
    assert finals(busy) == finals(await run(audio)) == [(approx(at(20) - PAD), approx(at(210) + CLIP_PAD),
                                                          " ".join(["w15"] * 8))]


# ---- over-long utterances -----------------------------------------------------------------

async def test_an_over_long_utterance_is_cut_in_the_middle_of_its_longest_pause():
    # 0.096 s gaps between words, one 0.256 s gap from 1.984 s: the cut is at its middle
    script = [(0.0, 20)]
    for gap in (3, 3, 8, 3, 3):
        script += [(SPEECH, 12), (0.0, gap)]
    audio = frames(*script, (SPEECH, 12), (0.0, 40))
    cut = at(20 + 12 * 3 + 3 * 2 + 4)  # the middle of the eight-frame pause
    got = finals(await run(audio, max_utterance=3.0))
    assert got[0] == (approx(at(20) - PAD), approx(at(20 + 12 * 3 + 3 * 2) + CLIP_PAD), "w12 w12 w12")
    assert got[1][0] == approx(cut) and got[1][2] == "w12 w12 w12"
    assert len(got) == 2


async def test_an_over_long_utterance_with_no_pause_is_cut_at_the_length_limit():
    audio = frames((0.0, 20), (SPEECH, 150), (0.0, 40))  # 4.8 s without a pause
    start = at(20) - PAD
    got = finals(await run(audio, max_utterance=3.0))
    assert [(s, e) for s, e, _ in got] == [(approx(start), approx(start + 3.0)),
                                           (approx(start + 3.0), approx(at(170) + CLIP_PAD))]


# ---- settings mid-stream ------------------------------------------------------------------

async def test_vad_turned_on_mid_utterance_lets_silence_end_it():
    # With VAD off, one utterance spans the stream; turned on, the VAD starts afresh, counts the
    # audio heard so far as speech, and min_silence of silence ends the utterance.
    events: list = []
    settings = SessionSettings(engine="whisper", model="test", vad=VadSettings(enabled=False))
    stream = RedecodeStream(settings, ClipDecoder(), events.append, ScriptedVad())
    try:
        for part, vad in ((frames((SPEECH, 30)), VadSettings(min_silence=0.5)), (frames((0.0, 40)), None)):
            for i in range(0, len(part), CHUNK):
                await stream.accept(part[i:i + CHUNK])
            await stream.update(vad, None)
        assert boundaries(events) == [("end", approx(at(30) + CLIP_PAD))]  # before the end of the stream
        await stream.finish()
    finally:
        await stream.close()
    assert finals(events) == [(0.0, approx(at(30) + CLIP_PAD), "w30")]


# ---- nothing said twice -------------------------------------------------------------------

class ScriptedFinals(ClipDecoder):
    """Finals come back with the given texts, in order (partials as ClipDecoder reads them)."""

    def __init__(self, *texts: str):
        super().__init__()
        self.texts = list(texts)

    async def __call__(self, audio, final, words, previous="", last_language=""):
        transcript, busy = await super().__call__(audio, final, words, previous, last_language)
        if final:
            transcript = Transcript(self.texts.pop(0), no_speech_prob=0.1, avg_logprob=-0.2)
        return transcript, busy


async def test_a_final_after_a_cut_inside_speech_drops_the_words_the_previous_final_ended_with():
    audio = frames((0.0, 20), (SPEECH, 150), (0.0, 40))  # 4.8 s without a pause: cut at 3 s
    decoder = ScriptedFinals("And so my fellow Americans, ask not", "ask not what your country can do for you.")
    got = [text for *_, text in finals(await run(audio, decoder, max_utterance=3.0))]
    assert got == ["And so my fellow Americans, ask not", "what your country can do for you."]


async def test_a_final_after_a_pause_keeps_its_words_even_when_they_repeat():
    audio = frames((0.0, 20), (SPEECH, 30), (0.0, 40), (SPEECH, 30), (0.0, 40))  # two utterances
    decoder = ScriptedFinals("No, no.", "No, no.")
    assert [text for *_, text in finals(await run(audio, decoder))] == ["No, no.", "No, no."]
