"""Online clustering (core_service/diarization/clustering.py) on embeddings of real people, the
windows it is given (windows.py, embeddings.on_grid) and the audio they are cut from."""
from __future__ import annotations

import numpy as np
import pytest

from core_service.diarization.audio_history import AudioHistory
from core_service.diarization.clustering import ClusteringSettings, Speakers
from core_service.diarization.encoder import SpeakerEncoder
from core_service.diarization.embeddings import on_grid
from core_service.diarization.windows import Window, talk_seconds, windows
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


def test_a_results_speech_is_covered_by_grid_windows_and_windows_at_its_edges():
    spans = on_grid(2.1, 6.3)  # the last grid window ends 0.3 s before the speech: one ending with it
    assert [w.start for w in spans[:-1]] == [2.25, 3.0, 3.75, 4.5] and spans[-1] == Window(4.8, 6.3)
    spans = on_grid(2.5, 6.1)  # the grid starts 0.5 s into the speech: a window starting with it
    assert spans[0] == Window(2.5, 4.0) and [w.start for w in spans[1:3]] == [3.0, 3.75]
    assert on_grid(2.1, 5.35)[-1] == Window(3.75, 5.25)  # within 0.2 s of the end: no extra window
    assert on_grid(2.1, 2.9) == []  # too short for a grid window: the diarizer embeds the speech alone


def test_talk_seconds_of_windows_sum_to_the_speech():
    spans = windows(2.0, 7.3)
    assert sum(talk_seconds(spans)) == pytest.approx(5.3)
    assert spans[0].start == 2.0 and spans[-1].end == pytest.approx(7.3)


def test_audio_history_keeps_the_last_seconds_and_reads_any_span_of_them():
    history = AudioHistory(2.0)
    audio = np.arange(16000 * 5, dtype=np.float32)
    for i in range(0, len(audio), 1600):
        history.append(audio[i:i + 1600])
    assert (history.start, history.end) == (3.0, 5.0)
    np.testing.assert_array_equal(history.span(3.05, 3.5), audio[int(3.05 * 16000):8 * 7000])
    assert history.span(0.0, 1.0).size == 0 and history.span(4.9, 6.0).size == 1600
