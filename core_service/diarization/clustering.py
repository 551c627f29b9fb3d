"""Online speaker clustering of one session: window embeddings in, stable speaker labels out.

Each final's audio arrives as a run of window embeddings (`windows.py`). `Speakers.label_final`
1. splits the run where the speaker changes without a pause: the mean of the `LOCAL_WINDOWS`
   windows before a point against the mean of those after it, below `change`, at the points where
   they differ most, at least `MIN_SIDE_WINDOWS` windows apart (so a long utterance can hold
   several turns),
2. gives each part the nearest speaker's label when the cosine of the part's mean to that
   speaker's centroid reaches `new_speaker` (lower by `SHORT_PART_MARGIN` for a part of one
   window, whose embedding is noisier), else a new label — never more than `max_speakers`, and
   more readily (`EAGER_MARGIN`) while fewer than `min_speakers` have been heard,
   Where two or more speakers are known, a part is also split where its windows' nearest known
   speaker changes (runs of at least `MIN_SIDE_WINDOWS` windows).
3. adds the part's windows to that speaker's centroid, then merges two speakers whose centroids
   have come closer than `merge`: the younger one's later windows are labelled with the older
   label. Labels already sent on a final are never renamed: a merge changes only labels to come.

`Speakers.guess` labels a partial from its last window without learning from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_SPEAKERS = 16  # a session's labels when it sets no max_speakers
MIN_SIDE_WINDOWS = 2  # windows each side of an in-utterance speaker change
LOCAL_WINDOWS = 3  # windows each side compared at a candidate change
SHORT_PART_MARGIN = 0.05  # a one-window part joins a speaker this much more readily
EAGER_MARGIN = 0.08  # a part starts a new speaker this much more readily below min_speakers


@dataclass(frozen=True)
class ClusteringSettings:
    """Cosine thresholds, tuned on the real recordings of tests/fixtures/real (docs/diarization.md)."""

    new_speaker: float = 0.72  # a part's mean below this against every centroid is a new speaker
    change: float = 0.80  # the windows either side of a point below this are two turns (a part goes on to step 2)
    merge: float = 0.82  # two centroids above this are one speaker
    min_speakers: int = 0  # 0 = no minimum
    max_speakers: int = 0  # 0 = MAX_SPEAKERS


@dataclass
class Speaker:
    label: int
    total: np.ndarray  # sum of the unit embeddings heard
    windows: int = 0
    talk_seconds: float = 0.0

    @property
    def centroid(self) -> np.ndarray:
        return self.total / max(float(np.linalg.norm(self.total)), 1e-8)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-8)


def change_points(embeddings: np.ndarray, threshold: float) -> list[int]:
    """Indexes where a new turn starts inside one run of windows (sorted, without 0): where the
    mean of up to LOCAL_WINDOWS windows before a point and the mean of as many after it differ
    most (a local minimum of their cosine) and by more than `threshold`."""
    n = len(embeddings)
    if n < 2 * MIN_SIDE_WINDOWS:
        return []
    cos = {k: float(_unit(embeddings[max(0, k - LOCAL_WINDOWS):k].sum(axis=0))
                    @ _unit(embeddings[k:k + LOCAL_WINDOWS].sum(axis=0)))
           for k in range(MIN_SIDE_WINDOWS, n - MIN_SIDE_WINDOWS + 1)}
    cuts: list[int] = []
    for k in sorted(cos, key=cos.get):  # most different first
        if cos[k] >= threshold:
            break
        if all(abs(k - c) >= MIN_SIDE_WINDOWS for c in cuts):
            cuts.append(k)
    return sorted(cuts)


@dataclass
class Speakers:
    """One session's speakers, labelled 1, 2, … in the order they are first heard."""

    settings: ClusteringSettings = field(default_factory=ClusteringSettings)
    speakers: list[Speaker] = field(default_factory=list)
    aliases: dict[int, int] = field(default_factory=dict)  # merged label -> the label it now reports

    @property
    def limit(self) -> int:
        return min(self.settings.max_speakers or MAX_SPEAKERS, MAX_SPEAKERS)

    def label_final(self, embeddings: np.ndarray, window_seconds: list[float]) -> list[int]:
        """One label per window of a final (learning from them); `window_seconds` is the speech
        each window stands for, added to its speaker's talk time."""
        if not len(embeddings):
            return []
        cuts = set(change_points(embeddings, self.settings.change)) | set(self._known_turns(embeddings))
        bounds = [0, *sorted(cuts), len(embeddings)]
        labels: list[int] = []
        for a, b in zip(bounds, bounds[1:]):
            speaker = self._choose(embeddings[a:b])
            speaker.total = speaker.total + embeddings[a:b].sum(axis=0)
            speaker.windows += b - a
            speaker.talk_seconds += float(sum(window_seconds[a:b]))
            labels += [speaker.label] * (b - a)
            self._merge()
        return [self.report(label) for label in labels]

    def _known_turns(self, embeddings: np.ndarray) -> list[int]:
        """Where the nearest known speaker changes between runs of at least MIN_SIDE_WINDOWS windows
        (a turn between two voices already heard, too alike for the mean split to see)."""
        active = self._active()
        if len(active) < 2:
            return []
        nearest = np.argmax(embeddings @ np.array([s.centroid for s in active]).T, axis=1)
        runs: list[list[int]] = []  # [label index, first window, length]
        for i, k in enumerate(nearest):
            if runs and runs[-1][0] == k:
                runs[-1][2] += 1
            else:
                runs.append([int(k), i, 1])
        runs = [r for r in runs if r[2] >= MIN_SIDE_WINDOWS]  # a lone window is noise, not a turn
        return [b[1] for a, b in zip(runs, runs[1:]) if a[0] != b[0]]

    def guess(self, embedding: np.ndarray) -> int:
        """The label a partial's last window would get now (nothing is learned)."""
        if not self.speakers:
            return 1
        speaker, cos = self._nearest(embedding)
        if cos >= self._threshold(1) or len(self.speakers) >= self.limit:
            return self.report(speaker.label)
        return len(self.speakers) + 1

    def nearest(self, embedding: np.ndarray) -> int:
        """The label of the nearest speaker heard so far (there must be one), learning nothing."""
        return self.report(self._nearest(embedding)[0].label)

    def report(self, label: int) -> int:
        while label in self.aliases:
            label = self.aliases[label]
        return label

    def talk_times(self) -> dict[int, float]:
        """Seconds of speech per reported label (merged speakers counted under the older label)."""
        out: dict[int, float] = {}
        for s in self.speakers:
            out[self.report(s.label)] = out.get(self.report(s.label), 0.0) + s.talk_seconds
        return out

    def _threshold(self, windows: int) -> float:
        t = self.settings.new_speaker - (SHORT_PART_MARGIN if windows == 1 else 0.0)
        heard = len({self.report(s.label) for s in self.speakers})
        return t + EAGER_MARGIN if heard < self.settings.min_speakers else t

    def _active(self) -> list[Speaker]:
        return [s for s in self.speakers if s.label not in self.aliases]

    def _nearest(self, embedding: np.ndarray) -> tuple[Speaker, float]:
        active = self._active()
        scores = [float(s.centroid @ embedding) for s in active]
        i = int(np.argmax(scores))
        return active[i], scores[i]

    def _choose(self, part: np.ndarray) -> Speaker:
        mean = _unit(part.sum(axis=0))
        if self.speakers:
            speaker, cos = self._nearest(mean)
            if cos >= self._threshold(len(part)) or len(self._active()) >= self.limit:
                return speaker
        speaker = Speaker(label=len(self.speakers) + 1, total=np.zeros_like(mean))
        self.speakers.append(speaker)
        return speaker

    def _merge(self) -> None:
        """Fold the younger of two speakers whose centroids came closer than `merge` into the older."""
        if len(self._active()) <= max(self.settings.min_speakers, 1):
            return
        active = self._active()
        for i, older in enumerate(active):
            for younger in active[i + 1:]:
                if float(older.centroid @ younger.centroid) > self.settings.merge:
                    older.total = older.total + younger.total
                    older.windows += younger.windows
                    self.aliases[younger.label] = older.label
                    return
