"""Dialogues of real people for the diarization tests, built from the single-speaker recordings.

Each recording (tests/fixtures/real/) is cut into pieces at its own pauses (never inside a word):
voiced runs are Silero VAD's 32 ms frames of speech probability 0.5 or more (the core's own VAD), a
pause is 0.25 s or more without them, and a piece is one or more consecutive phrases, at most
`max_seconds` long. A dialogue alternates pieces of different people, each trimmed to its voiced
part (plus 0.1 s either side), joined with gaps of silence from a fixed list; a gap of 0 is a
back-to-back turn (no pause at all). Built deterministically at test time; nothing is stored.
The reference segmentation is each piece's voiced span in the dialogue's time line.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bench.der import Segment
from tests.audio_fixtures import SAMPLE_RATE
from tests.real_speech import load

SPEECH = 0.5  # Silero VAD probability of a voiced frame
MIN_PAUSE = 0.25  # seconds of silence between two phrases
EDGE = 0.1  # silence kept either side of a piece's speech


@dataclass(frozen=True)
class Dialogue:
    name: str
    audio: np.ndarray  # 16 kHz mono float32
    reference: tuple[Segment, ...]  # who speaks when (speaker = recording name)

    @property
    def speakers(self) -> int:
        return len({s.speaker for s in self.reference})

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@lru_cache(maxsize=None)
def phrases(name: str) -> tuple[tuple[int, int], ...]:
    """(first, last) sample of each voiced phrase of a recording."""
    from core_service.vad import FRAME, FRAME_SECONDS, SileroVad

    voiced = SileroVad.shared().stream().probabilities(load(name).audio) >= SPEECH
    out: list[list[int]] = []
    gap = int(MIN_PAUSE / FRAME_SECONDS)
    for i in np.flatnonzero(voiced):
        if out and i - out[-1][1] <= gap:
            out[-1][1] = i
        else:
            out.append([i, i])
    return tuple((a * FRAME, (b + 1) * FRAME) for a, b in out if b - a >= 3)  # phrases of 0.1 s or more


def pieces(name: str, max_seconds: float) -> list[np.ndarray]:
    """The recording in consecutive pieces of whole phrases, each at most `max_seconds` of speech."""
    audio, out, current = load(name).audio, [], None
    for a, b in phrases(name):
        if current is not None and (b - current[0]) / SAMPLE_RATE > max_seconds:
            out.append(current)
            current = None
        current = (current[0], b) if current else (a, b)
    if current:
        out.append(current)
    edge = int(EDGE * SAMPLE_RATE)
    return [audio[max(0, a - edge):b + edge] for a, b in out]


def build(name: str, turns: list[tuple[str, int]], gaps: list[float], max_seconds: float = 6.0) -> Dialogue:
    """`turns`: (recording, piece index) in order; `gaps[i]`: silence before turn i + 1 (0 = back
    to back: the two pieces' edges are cut too, so no pause is left)."""
    parts, reference, t = [], [], 0
    edge = int(EDGE * SAMPLE_RATE)
    for i, (speaker, index) in enumerate(turns):
        piece = pieces(speaker, max_seconds)[index]
        if i and gaps[i - 1] == 0.0:
            parts[-1] = parts[-1][:-edge]
            t -= edge
            piece = piece[edge:]
            start = t
        else:
            if i:
                silence = np.zeros(int(gaps[i - 1] * SAMPLE_RATE), dtype=np.float32)
                parts.append(silence)
                t += len(silence)
            start = t + edge
        parts.append(piece)
        t += len(piece)
        reference.append(Segment(start / SAMPLE_RATE, (t - (edge if i + 1 < len(turns) and gaps[i] == 0.0 else edge
                                                               )) / SAMPLE_RATE, speaker))
    return Dialogue(name, np.concatenate(parts).astype(np.float32), tuple(reference))


def overlapped(a: str, b: str, overlap: float = 1.0) -> Dialogue:
    """Two people, the second starting `overlap` seconds before the first ends (both voices mixed)."""
    first, second = pieces(a, 6.0)[0], pieces(b, 6.0)[0]
    edge = int(EDGE * SAMPLE_RATE)
    offset = len(first) - edge - int(overlap * SAMPLE_RATE)
    audio = np.zeros(offset + len(second), dtype=np.float32)
    audio[:len(first)] += first
    audio[offset:] += second
    reference = (Segment(EDGE, (len(first) - edge) / SAMPLE_RATE, a),
                 Segment((offset + edge) / SAMPLE_RATE, (len(audio) - edge) / SAMPLE_RATE, b))
    return Dialogue(f"{a}+{b} overlapping {overlap:g} s", np.clip(audio, -1, 1), reference)


# The cases: different people (tests/fixtures/real/README.md), natural gaps of 0.3-1 s and one
# back-to-back turn in each two-speaker case, three speakers in the last.
GAPS = [0.6, 0.3, 1.0, 0.0, 0.5, 0.8, 0.4, 0.7]


def two_speakers_reader_and_cards() -> Dialogue:
    return build("reader+cards", [("sense_and_sensibility", 0), ("cards", 0), ("sense_and_sensibility", 1),
                                  ("cards", 1), ("sense_and_sensibility", 2)], GAPS)


def two_speakers_kennedy_and_sonnets() -> Dialogue:
    return build("kennedy+sonnets", [("jfk", 0), ("sonnet_1", 0), ("jfk", 1), ("sonnet_1", 1)], [0.6, 0.0, 0.4])


def three_speakers() -> Dialogue:
    return build("sonnets+kennedy+cards", [("sonnet_2", 0), ("jfk", 0), ("cards", 0), ("sonnet_2", 1),
                                           ("cards", 1), ("jfk", 1), ("sonnet_2", 2)], GAPS)


def kennedy_then_sonnet() -> Dialogue:
    """Two turns, 11 s: short enough for the live-captions page's fake microphone (tests/page)."""
    return build("kennedy+sonnet", [("jfk", 0), ("sonnet_1", 0)], [0.6])
