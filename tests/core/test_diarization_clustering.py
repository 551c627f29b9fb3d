"""Online clustering (core_service/diarization/clustering.py) on embeddings of real people."""
from __future__ import annotations

import numpy as np
import pytest

from core_service.diarization.clustering import ClusteringSettings, Speakers
from core_service.diarization.encoder import SpeakerEncoder
from core_service.diarization.windows import talk_seconds, windows
from tests.dialogues import pieces


def embeddings(name: str, index: int) -> np.ndarray:
    audio = pieces(name, 6.0)[index]
    spans = windows(0.0, len(audio) / 16000)
    return SpeakerEncoder.shared().embed([audio[int(w.start * 16000):int(w.end * 16000)] for w in spans])


def label(speakers: Speakers, e: np.ndarray) -> list[int]:
    return speakers.label_final(e, [0.75] * len(e))


def test_a_person_heard_again_gets_their_first_label():
    speakers = Speakers()
    first = label(speakers, embeddings("sense_and_sensibility", 0))
    other = label(speakers, embeddings("cards", 0))
    again = label(speakers, embeddings("sense_and_sensibility", 1))
    assert set(first) == set(again) == {1} and set(other) == {2}


def test_max_speakers_puts_a_new_voice_on_the_nearest_label():
    speakers = Speakers(ClusteringSettings(max_speakers=1))
    label(speakers, embeddings("sense_and_sensibility", 0))
    assert set(label(speakers, embeddings("jfk", 0))) == {1}


def test_a_merge_changes_only_labels_to_come():
    speakers = Speakers(ClusteringSettings(new_speaker=0.99, merge=0.5))  # every part new, every pair merged
    first = label(speakers, embeddings("cards", 0))
    second = label(speakers, embeddings("cards", 1))
    assert first[0] == 1
    assert set(second) == {1}  # the younger label folded into the older one at once
    assert speakers.talk_times() == {1: pytest.approx(0.75 * (len(first) + len(second)))}


def test_talk_seconds_of_windows_sum_to_the_speech():
    spans = windows(2.0, 7.3)
    assert sum(talk_seconds(spans)) == pytest.approx(5.3)
    assert spans[0].start == 2.0 and spans[-1].end == pytest.approx(7.3)
