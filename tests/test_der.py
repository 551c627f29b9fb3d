"""bench/der.py against hand-computed diarization error rates."""
import pytest

from bench.der import Segment, der, segments_from_words


def test_perfect_hypothesis_scores_zero_whatever_its_labels_are_called():
    ref = [Segment(0, 5, "a"), Segment(6, 10, "b")]
    assert der(ref, [Segment(0, 5, 2), Segment(6, 10, 1)]).rate == 0.0


def test_confusion_is_the_time_given_to_the_wrong_speaker_after_the_best_mapping():
    ref = [Segment(0, 10, "a"), Segment(10, 20, "b")]
    hyp = [Segment(0, 12, 1), Segment(12, 20, 2)]  # 2 s of b called a; 0.25 s of it in the collar
    result = der(ref, hyp, collar=0.25)
    assert result.confusion == pytest.approx(1.75, abs=0.011)
    assert result.missed == 0 and result.false_alarm == 0
    assert result.total == pytest.approx(19.0, abs=0.011)  # 20 s less the collars: 0.25 at 0 and 20, 0.5 at 10


def test_missed_speech_and_false_alarms():
    ref = [Segment(1, 5, "a")]
    hyp = [Segment(1, 3, 1), Segment(7, 8, 1)]
    result = der(ref, hyp, collar=0.0)
    assert result.missed == pytest.approx(2.0, abs=0.011)
    assert result.false_alarm == pytest.approx(1.0, abs=0.011)
    assert result.rate == pytest.approx(3.0 / 4.0, abs=0.01)


def test_a_second_voice_in_overlapping_speech_missed_counts_once_per_speaker():
    ref = [Segment(0, 4, "a"), Segment(3, 6, "b")]
    hyp = [Segment(0, 3.5, 1), Segment(3.5, 6, 2)]
    result = der(ref, hyp, collar=0.0)
    assert result.total == pytest.approx(7.0, abs=0.011)
    assert result.missed == pytest.approx(1.0, abs=0.011)  # one of two voices in 3..4
    assert result.confusion == pytest.approx(0.0, abs=0.011)


def test_words_of_one_speaker_join_across_short_pauses_and_unknown_words_are_left_out():
    words = [(0.0, 0.4, 1), (0.5, 1.0, 1), (2.5, 3.0, 1), (3.0, 3.5, 2), (3.6, 3.9, 0)]
    assert segments_from_words(words) == [Segment(0.0, 1.0, 1), Segment(2.5, 3.0, 1), Segment(3.0, 3.5, 2)]
