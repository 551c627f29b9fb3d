"""The part of segmenting every local engine shares: a session's audio history, its VAD and
endpointer, the speech probabilities heard so far, and its utterance ids.

Silero VAD costs about 0.4 ms of CPU per 100 ms chunk (bench/chunk_cost.py), so it runs here,
off the event loop, on a small pool shared by all sessions; ONNX Runtime releases the GIL.
Everything else here is bookkeeping on the event loop thread.
"""
from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..engines.base import SAMPLE_RATE, VadSettings
from ..vad import FRAME, FRAME_SECONDS, SileroVad, VadStream
from .endpointer import Boundary, Endpointer
from .speech_history import SpeechHistory

# VAD of every session runs on these threads (at most one call per session at a time).
VAD_WORKERS = min(4, os.cpu_count() or 1)
_vad_pool: ThreadPoolExecutor | None = None


def vad_pool() -> ThreadPoolExecutor:
    global _vad_pool
    if _vad_pool is None:
        _vad_pool = ThreadPoolExecutor(VAD_WORKERS, thread_name_prefix="vad")
    return _vad_pool


@dataclass
class Utterance:
    """One utterance of a session: what both decoding strategies know of it."""

    segment_id: int
    start: float  # seconds from stream start
    continues: bool = False  # opened by a cut inside speech: may repeat the previous final's last words
    partial_text: str = ""  # the last partial the client was sent
    closed: bool = False


class AudioHistory:
    """The recent audio of a stream, addressed by absolute sample index."""

    def __init__(self) -> None:
        self.start = 0  # sample index of buf[0]
        self.buf = np.zeros(0, dtype=np.float32)

    @property
    def end(self) -> int:
        return self.start + len(self.buf)

    def append(self, audio: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, audio]) if len(self.buf) else audio.astype(np.float32, copy=True)

    def slice(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        if b <= a:
            return np.zeros(0, dtype=np.float32)
        return self.buf[a - self.start:b - self.start]

    def trim_before(self, index: int) -> None:
        cut = min(max(index - self.start, 0), len(self.buf))
        if cut:
            self.buf = self.buf[cut:]
            self.start += cut


class Segmenter:
    """A session's audio, VAD, endpointer, speech probabilities and utterance ids.

    `hear(audio)` adds audio and returns the speech begin/end boundaries the endpointer found
    in it (none with VAD off). The decoding strategies (`redecode`, `native_incremental`)
    decide what an utterance is from those boundaries and from `speech`."""

    def __init__(self, vad: VadSettings, model: SileroVad, pre_roll: float = 0.6):
        self.model = model
        self.pre_roll = pre_roll  # seconds of audio kept before the open utterance
        self.audio = AudioHistory()
        self.speech = SpeechHistory()
        self.vad: VadStream | None = None
        self.endpointer: Endpointer | None = None
        self._next_id = 1
        if vad.enabled:
            self.vad, self.endpointer = model.stream(), Endpointer(vad)

    @property
    def now(self) -> float:
        """Seconds of audio heard."""
        return self.audio.end / SAMPLE_RATE

    async def hear(self, audio: np.ndarray) -> list[Boundary]:
        """Add 16 kHz float32 audio; the VAD's speech boundaries in it (empty with VAD off)."""
        probs = None
        if self.vad is not None:
            probs = await asyncio.get_running_loop().run_in_executor(vad_pool(), self.vad.probabilities, audio)
        self.audio.append(audio)
        return self._follow(probs)

    async def hear_last_frame(self) -> list[Boundary] | None:
        """End of the stream: let the VAD judge the last partial frame (padded with silence).
        None when there was none."""
        pending = len(self.vad.pending) if self.vad is not None else 0
        if not pending:
            return None
        pad = np.zeros(FRAME - pending, np.float32)
        return self._follow(await asyncio.get_running_loop().run_in_executor(vad_pool(), self.vad.probabilities,
                                                                             pad))

    def _follow(self, probs: np.ndarray | None) -> list[Boundary]:
        if probs is None or self.endpointer is None:
            return []
        self.speech.extend(probs)
        return self.endpointer.update(probs)

    def set_vad(self, vad: VadSettings, in_utterance: bool) -> None:
        """New VAD settings mid-stream. Turned off, the VAD stops; turned on, it starts afresh
        here, and silence may close the utterance it did not open (`in_utterance`). Audio heard
        while it was off counts as speech."""
        if not vad.enabled:
            self.vad = self.endpointer = None
            return
        if self.endpointer is not None:
            self.endpointer.settings = vad
            return
        self.vad, self.endpointer = self.model.stream(), Endpointer(vad)
        self.endpointer.t = self.now
        gap = round(self.now / FRAME_SECONDS) - round(self.speech.end / FRAME_SECONDS)
        if gap > 0:
            self.speech.extend(np.ones(gap, np.float32))
        if in_utterance:
            self.endpointer.in_speech = True
            self.endpointer.last_speech = self.endpointer.t
            self.endpointer.voiced = self.endpointer.MIN_SPEECH

    def forget_before(self, keep_from: float | None) -> None:
        """Drop audio before `keep_from` seconds (None: all but the last `pre_roll`), in 1 s
        steps so that chunks are not copied every time."""
        if keep_from is None:
            keep_from = self.now - self.pre_roll
        cut = int(keep_from * SAMPLE_RATE) - self.audio.start
        if cut > SAMPLE_RATE:
            self.audio.trim_before(self.audio.start + cut)
            self.speech.forget_before(self.audio.start / SAMPLE_RATE)

    def clip(self, start: float, end: float) -> np.ndarray:
        """A copy of the audio between `start` and `end` seconds."""
        return self.audio.slice(int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)).copy()

    # ---- utterance ids --------------------------------------------------------------------
    def new_id(self) -> int:
        """The id of the next utterance (1, 2, ...)."""
        segment_id, self._next_id = self._next_id, self._next_id + 1
        return segment_id

    def unused(self, segment_id: int) -> None:
        """The utterance `segment_id`, the last one opened, gave the client nothing: the next
        utterance takes its id."""
        if segment_id == self._next_id - 1:
            self._next_id = segment_id
