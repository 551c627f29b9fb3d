"""A session's diarizer: labels each result with who said it, off the event loop, within a deadline.

The session feeds it every sample it accepts (`feed`, kept for `keep_seconds`) and hands it each
result before sending it (`label`). Window embeddings are computed ahead as the audio arrives
(`embeddings.py`, in the diarization pool: one thread for all sessions, at most one job per
session). A final's speech (first word to last word) is covered by windows (`embeddings.on_grid`),
most of them ready by then; they are labelled by the session's `Speakers` on the event loop; each
word takes the label of the window nearest to it, the result the label most of its words have. A
partial gets the current guess from the last window computed within it, learning nothing (the
previous guess until there is one).

A diarizer that fails or misses its deadline never costs the transcript: the result goes out
without a speaker (0) and a warning is logged. A job that missed its deadline runs on; the
session's next final waits for it (within its own deadline) before asking for more.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..engines.base import Result
from .audio_history import AudioHistory
from .clustering import ClusteringSettings, Speakers
from .embeddings import WindowEmbeddings, on_grid
from .encoder import SpeakerEncoder
from .windows import Window, nearest_window, speech_span, talk_seconds, windows

log = logging.getLogger(__name__)

SHORT_SPEECH_SECONDS = 0.15  # shorter speech is not embedded at all: its result gets speaker 0

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="diarization")
        return _pool


@dataclass(frozen=True)
class DiarizationSettings:
    """A session's StreamingConfig.diarization, checked."""

    enabled: bool = False
    min_speakers: int = 0  # 0 = no minimum
    max_speakers: int = 0  # 0 = no maximum (clustering.MAX_SPEAKERS)


def _embed(audio: list[np.ndarray]) -> np.ndarray:
    return SpeakerEncoder.shared().embed(audio)


class SessionDiarizer:
    def __init__(self, settings: DiarizationSettings, deadline: float, keep_seconds: float, label: str = ""):
        self.speakers = Speakers(ClusteringSettings(min_speakers=settings.min_speakers,
                                                    max_speakers=settings.max_speakers))
        self.history = AudioHistory(keep_seconds)
        self.deadline = deadline
        self.label_of = label  # the session id, for logs
        self.guessed = 0  # the last partial's guess
        self.missed = 0  # results sent without a speaker (deadline or failure)
        self.embeddings = WindowEmbeddings(self.history, _embed, pool)

    def feed(self, samples: np.ndarray) -> None:
        self.history.append(samples)
        self.embeddings.advance()

    def talk_times(self) -> dict[int, float]:
        return self.speakers.talk_times()

    async def label(self, result: Result) -> None:
        """Set `result.speaker` and its words' speakers; on any failure leave them 0 and log it."""
        try:
            if result.is_final:
                await self._label_final(result)
            else:
                await self._guess(result)
        except asyncio.TimeoutError:
            self.missed += 1
            log.warning("session %r: speaker labels of segment %d missed their %.1f s deadline; sent without "
                        "them", self.label_of, result.segment_id, self.deadline)
        except Exception:  # the transcript must go out whatever the diarizer does
            self.missed += 1
            log.warning("session %r: diarizing segment %d failed; sent without speaker labels", self.label_of,
                        result.segment_id, exc_info=True)

    async def _label_final(self, result: Result) -> None:
        start, end = speech_span(result.start, result.end, [(w.start, w.end) for w in result.words])
        spans = on_grid(start, end) or windows(start, end)
        if not spans:
            await self._label_short(result, start, end)
            return
        embeddings = await self.embeddings.of(spans, self.deadline)
        labels = self.speakers.label_final(embeddings, talk_seconds(spans))
        for word in result.words:
            word.speaker = labels[nearest_window(spans, (word.start + word.end) / 2)]
        votes = Counter(w.speaker for w in result.words) or Counter(labels)
        result.speaker = votes.most_common(1)[0][0]

    async def _label_short(self, result: Result, start: float, end: float) -> None:
        """A final too short for a window ("yes"): the nearest speaker heard so far, learning nothing."""
        if end - start < SHORT_SPEECH_SECONDS or not self.speakers.speakers:
            return
        embedding = (await self.embeddings.of([Window(start, end)], self.deadline))[0]
        result.speaker = self.speakers.nearest(embedding)
        for word in result.words:
            word.speaker = result.speaker

    async def _guess(self, result: Result) -> None:
        embedding = self.embeddings.latest(result.start, result.end)
        if embedding is not None:
            self.guessed = self.speakers.guess(embedding)
        result.speaker = self.guessed
        for word in result.words:
            word.speaker = self.guessed
