"""Live speaker diarization through the real gRPC API (docs/diarization.md).

Real people in turns: dialogues built from the real single-speaker recordings (tests/dialogues.py),
with natural gaps and a back-to-back turn, scored by diarization error rate (bench/der.py: missed +
false alarm + confusion over reference speech, 0.25 s collar). Uploads for most cases (the labels
do not depend on the pace), one at real time.
"""
from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import numpy as np
import pytest
from asr.v1 import asr_pb2, asr_pb2_grpc

from bench.der import der, segments_from_words
from tests.conftest import start_core
from tests.core.grpc_helpers import Call, audio_requests, config, recognize
from tests.dialogues import (Dialogue, overlapped, three_speakers, two_speakers_kennedy_and_sonnets,
                             two_speakers_reader_and_cards)

MAX_DER = 0.15
CHUNK_SECONDS = 0.1


def seconds(d) -> float:
    return d.seconds + d.nanos / 1e9


def pcm(dialogue: Dialogue) -> bytes:
    return (np.clip(dialogue.audio, -1, 1) * 32767).astype("<i2").tobytes()


async def diarize(address: str, dialogue: Dialogue, realtime: bool = False, **diarization) -> Call:
    requests = [config(interim_results=True, enable_word_time_offsets=True,
                       diarization=asr_pb2.DiarizationConfig(enable=True, **diarization)),
                *audio_requests(pcm(dialogue), int(32000 * CHUNK_SECONDS))]
    call = await recognize(address, requests, pace=CHUNK_SECONDS if realtime else 0.0, timeout=240)
    assert call.code == grpc.StatusCode.OK, call.message
    return call


def words(call: Call) -> list[tuple[float, float, int]]:
    return [(seconds(w.start_offset), seconds(w.end_offset), w.speaker) for r in call.finals for w in r.words]


def error_rate(call: Call, dialogue: Dialogue) -> float:
    return der(list(dialogue.reference), segments_from_words(words(call))).rate


def labels_by_person(call: Call, dialogue: Dialogue) -> dict[str, Counter]:
    """For each person of the reference, the labels of the words spoken inside their turns."""
    out: dict[str, Counter] = {}
    for start, end, speaker in words(call):
        mid = (start + end) / 2
        for turn in dialogue.reference:
            if turn.start <= mid <= turn.end:
                out.setdefault(turn.speaker, Counter())[speaker] += 1
    return out


@pytest.mark.parametrize("dialogue", [two_speakers_reader_and_cards(), two_speakers_kennedy_and_sonnets()],
                         ids=lambda d: d.name)
async def test_two_people_in_turns_are_labelled_within_the_error_rate_bound(core_address, dialogue):
    call = await diarize(core_address, dialogue)
    rate = error_rate(call, dialogue)
    print(f"{dialogue.name}: DER {rate:.1%}")
    assert rate <= MAX_DER
    assert {w[2] for w in words(call)} == {1, 2}  # the speaker count is right


async def test_every_word_of_a_final_carries_a_speaker_and_the_final_is_its_majority(core_address):
    call = await diarize(core_address, two_speakers_reader_and_cards())
    assert call.finals
    for result in call.finals:
        assert result.words and all(w.speaker for w in result.words)
        assert result.speaker == Counter(w.speaker for w in result.words).most_common(1)[0][0]


async def test_a_turn_without_a_pause_splits_the_words_of_one_final(core_address):
    dialogue = two_speakers_kennedy_and_sonnets()  # the sonnets' reader answers Kennedy back to back
    call = await diarize(core_address, dialogue)
    assert any(len({w.speaker for w in r.words}) == 2 for r in call.finals)
    assert error_rate(call, dialogue) <= MAX_DER


async def test_three_people_get_three_labels(core_address):
    dialogue = three_speakers()
    call = await diarize(core_address, dialogue)
    print(f"{dialogue.name}: DER {error_rate(call, dialogue):.1%}")
    assert {w[2] for w in words(call)} == {1, 2, 3}
    assert error_rate(call, dialogue) <= 0.25


async def test_at_real_time_labels_are_stable_and_partials_carry_the_current_guess(core_address):
    dialogue = two_speakers_reader_and_cards()
    call = await diarize(core_address, dialogue, realtime=True)
    assert error_rate(call, dialogue) <= MAX_DER
    # one label per person for the whole session: a label sent on a final is never renamed
    for person, labels in labels_by_person(call, dialogue).items():
        label, count = labels.most_common(1)[0]
        assert count >= 0.85 * sum(labels.values()), (person, labels)
    # partials carry the guess from the last window computed within them (none before the first)
    first_final = next(i for i, r in enumerate(call.results) if r.is_final)
    partials = [r for r in call.results[first_final:] if not r.is_final]
    assert partials and all(r.speaker in (1, 2) for r in partials)


async def test_the_summary_gives_each_speakers_talk_time(core_address):
    dialogue = two_speakers_reader_and_cards()
    call = await diarize(core_address, dialogue)
    summary = call.of("summary")[0]
    talk = {s.speaker: seconds(s.talk_time) for s in summary.speakers}
    assert set(talk) == {1, 2}
    reference = Counter()
    for turn in dialogue.reference:
        reference[turn.speaker] += turn.end - turn.start
    assert sorted(talk.values()) == pytest.approx(sorted(reference.values()), abs=2.5)


async def test_overlapping_voices_lose_no_words(core_address):
    dialogue = overlapped("jfk", "cards", overlap=1.0)
    plain = await recognize(core_address, [config(enable_word_time_offsets=True),
                                           *audio_requests(pcm(dialogue), 3200)], timeout=240)
    call = await diarize(core_address, dialogue)
    assert call.transcript == plain.transcript
    assert len(words(call)) == sum(len(r.words) for r in plain.finals)
    assert all(speaker for _, _, speaker in words(call))


async def test_max_speakers_caps_the_labels(core_address):
    call = await diarize(core_address, three_speakers(), max_speakers=2)
    assert {w[2] for w in words(call)} <= {1, 2}


async def test_without_word_times_requested_results_carry_the_speaker_only(core_address):
    requests = [config(diarization=asr_pb2.DiarizationConfig(enable=True)),
                *audio_requests(pcm(two_speakers_reader_and_cards()), 3200)]
    call = await recognize(core_address, requests, timeout=240)
    started = call.of("session_started")[0]
    assert started.resolved_config.diarization.enable and not started.resolved_config.enable_word_time_offsets
    assert all(not r.words for r in call.finals)
    assert {r.speaker for r in call.finals} == {1, 2}


@pytest.mark.parametrize("diarization, field", [
    (dict(enable=True, min_speakers=3, max_speakers=2), "config.diarization.max_speakers"),
    (dict(enable=True, max_speakers=17), "config.diarization.max_speakers"),
])
async def test_impossible_speaker_counts_are_refused(core_address, diarization, field):
    call = await recognize(core_address, [config(diarization=asr_pb2.DiarizationConfig(**diarization))])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT
    assert call.field_violations == [field]


async def test_diarization_with_per_channel_recognition_is_refused(core_address):
    call = await recognize(core_address, [config(audio_channel_count=2, enable_separate_recognition_per_channel=True,
                                                 diarization=asr_pb2.DiarizationConfig(enable=True))])
    assert call.code == grpc.StatusCode.INVALID_ARGUMENT
    assert call.field_violations == ["config.diarization.enable"]


async def test_list_engines_says_every_engine_can_label_speakers(core_address):
    async with grpc.aio.insecure_channel(core_address) as channel:
        reply = await asr_pb2_grpc.RecognizerServiceStub(channel).ListEngines(asr_pb2.ListEnginesRequest())
    assert reply.engines and all(e.capabilities.diarization for e in reply.engines)


@pytest.fixture(scope="module")
def hurried_core(tmp_path_factory):
    """A core whose diarizer can never meet its deadline."""
    core = start_core(tmp_path_factory.mktemp("hurried"), "--diarization-deadline", "0.000001")
    yield core
    core.stop()


async def test_a_diarizer_past_its_deadline_costs_the_labels_not_the_transcript(core_address, hurried_core):
    dialogue = two_speakers_reader_and_cards()
    plain = await recognize(core_address, [config(), *audio_requests(pcm(dialogue), 3200)], timeout=240)
    call = await diarize(hurried_core.address, dialogue)
    assert call.transcript == plain.transcript
    assert any(r.speaker == 0 for r in call.finals)  # those that had to wait for a window
    await asyncio.sleep(0.2)
    assert "missed their" in hurried_core.log()
