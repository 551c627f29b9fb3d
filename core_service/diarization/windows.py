"""Where a result's speech is cut into encoder windows, and which window each word falls in."""
from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = 1.5  # encoder window (the network was trained on 1.6 s)
HOP_SECONDS = 0.75
MIN_WINDOW_SECONDS = 0.4  # speech shorter than this gets no window (too little to tell a voice)


@dataclass(frozen=True)
class Window:
    start: float  # seconds from stream start
    end: float

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


def speech_span(start: float, end: float, words: list[tuple[float, float]]) -> tuple[float, float]:
    """The voiced part of a result: from its first word's start to its last word's end when it
    has word times (the utterance's own bounds include the silence around the speech)."""
    if words:
        first, last = max(start, min(w[0] for w in words)), min(end, max(w[1] for w in words))
        if last > first:
            return first, last
    return start, end


def windows(start: float, end: float) -> list[Window]:
    """Windows of WINDOW_SECONDS every HOP_SECONDS over [start, end], the last one ending at `end`;
    one shorter window for speech shorter than a window; none under MIN_WINDOW_SECONDS."""
    length = end - start
    if length < MIN_WINDOW_SECONDS:
        return []
    if length <= WINDOW_SECONDS:
        return [Window(start, end)]
    out = []
    t = start
    while t + WINDOW_SECONDS < end - HOP_SECONDS / 2:
        out.append(Window(t, t + WINDOW_SECONDS))
        t += HOP_SECONDS
    out.append(Window(end - WINDOW_SECONDS, end))
    return out


def nearest_window(spans: list[Window], t: float) -> int:
    """Index of the window whose centre is nearest to time `t`."""
    return min(range(len(spans)), key=lambda i: abs(spans[i].centre - t))


def talk_seconds(spans: list[Window]) -> list[float]:
    """The speech each window stands for (overlaps shared), summing to the span's length."""
    if not spans:
        return []
    cuts = [spans[0].start] + [(a.centre + b.centre) / 2 for a, b in zip(spans, spans[1:])] + [spans[-1].end]
    return [b - a for a, b in zip(cuts, cuts[1:])]
