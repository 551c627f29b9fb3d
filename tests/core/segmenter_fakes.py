"""A VAD and a decoder for driving the segmenter without models.

The audio carries its own speech probabilities: every sample of a 32 ms frame holds the
probability `ScriptedVad` reports for that frame, so a test writes the VAD's output as audio.
`ClipDecoder` transcribes a clip from that audio alone: one word per run of voiced samples
(named by the run's length in frames), a full stop after a run at or above `SENTENCE_END`, and
a high no-speech probability for a clip whose voice is only faint. It can hold its decodes back
until the test lets them go (a busy machine), so tests see the same finals either way.
"""
from __future__ import annotations

import asyncio

import numpy as np

from core_service.engines.base import Result, SessionSettings, SpeechBoundary, VadSettings
from core_service.engines.whisper_decoder import Transcript
from core_service.segmenter.redecode import RedecodeStream
from core_service.vad import FRAME, FRAME_SECONDS

SPEECH = 0.9  # a confident word
SENTENCE_END = 0.95  # a word after which the decoder writes a full stop
FAINT = 0.6  # voice over the VAD threshold that the decoder hears as no speech (a cough)
CHUNK = 1600  # 0.1 s


def frames(*script: tuple[float, int]) -> np.ndarray:
    """Audio for (probability, number of frames) pairs."""
    return np.concatenate([np.full(n * FRAME, p, np.float32) for p, n in script])


def at(frame: int) -> float:
    """Seconds at the start of frame `frame`."""
    return round(frame * FRAME_SECONDS, 3)


class ScriptedVad:
    """Stands in for SileroVad: a frame's speech probability is its first sample."""

    def stream(self) -> "ScriptedVadStream":
        return ScriptedVadStream()


class ScriptedVadStream:
    def __init__(self) -> None:
        self.pending = np.zeros(0, np.float32)

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self.pending, audio])
        n = len(buf) // FRAME
        self.pending = buf[n * FRAME:].copy()
        return buf[:n * FRAME:FRAME].astype(np.float32)


class ClipDecoder:
    def __init__(self, hold_finals: bool = False):
        self.released = asyncio.Event()
        if not hold_finals:
            self.released.set()
        self.partials = 0
        self.finals = 0
        self.in_flight = 0  # final-priority decodes (finals and sentence-end decodes) out now
        self.most_in_flight = 0
        self.final_prompts: list[str] = []  # the `previous` text each final decode was given

    async def __call__(self, audio: np.ndarray, final: bool, words: bool, previous: str = "",
                      last_language: str = "") -> tuple[Transcript, float]:
        if not final:
            self.partials += 1
            return transcribe(audio), 0.0
        self.finals += 1
        self.final_prompts.append(previous)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.released.wait()
            await asyncio.sleep(0)
            return transcribe(audio), 0.0
        finally:
            self.in_flight -= 1


def transcribe(audio: np.ndarray) -> Transcript:
    voiced = np.concatenate([[False], audio >= 0.5, [False]])
    edges = np.flatnonzero(np.diff(voiced.astype(np.int8)))
    words = []
    for a, b in zip(edges[::2], edges[1::2]):
        words.append(f"w{round((b - a) / FRAME)}" + ("." if audio[a:b].max() >= SENTENCE_END - 1e-6 else ""))
    speech = bool(len(audio)) and audio.max() >= SPEECH - 1e-6
    return Transcript(" ".join(words), no_speech_prob=0.1 if speech else 0.8, avg_logprob=-0.2)


async def run(audio: np.ndarray, decoder: ClipDecoder | None = None, *, max_utterance: float = 15.0,
              min_silence: float = 0.5, interim_results: bool = True, sentence_end_after: float = 0.0,
              condition_on_previous_text: bool = True) -> list:
    """Stream `audio` through a RedecodeStream in 0.1 s chunks; returns every emitted event.
    Sentence ends may end utterances of any length unless `sentence_end_after` says otherwise.
    With a decoder that holds its finals, they are let go only after the last chunk."""
    decoder = decoder or ClipDecoder()
    settings = SessionSettings(engine="whisper", model="test", interim_results=interim_results,
                               vad=VadSettings(min_silence=min_silence),
                               condition_on_previous_text=condition_on_previous_text)
    events: list = []
    stream = RedecodeStream(settings, decoder, events.append, ScriptedVad(), max_utterance=max_utterance,
                            sentence_end_after=sentence_end_after)
    try:
        for i in range(0, len(audio), CHUNK):
            await stream.accept(audio[i:i + CHUNK])
            while decoder.released.is_set() and (busy := [t for t in stream._tasks if not t.done()]):
                await asyncio.wait(busy)  # an idle machine: every decode is back before the next chunk
        decoder.released.set()
        await stream.finish()
    finally:
        await stream.close()
    return events


def finals(events: list) -> list[tuple[float, float, str]]:
    return [(e.start, e.end, e.text) for e in events if isinstance(e, Result) and e.is_final]


def partials(events: list) -> list[Result]:
    return [e for e in events if isinstance(e, Result) and not e.is_final]


def boundaries(events: list) -> list[tuple[str, float]]:
    return [(e.kind, round(e.offset, 3)) for e in events if isinstance(e, SpeechBoundary)]
