"""Automatic language routing for sessions that name neither a language nor a model.

The default model, tiny.en, is English-only and fast; base is multilingual and about four
times slower. A session with no language follows the speaker utterance by utterance:

- every utterance's language is identified with base's language detection (an encoder pass
  over a few seconds and one decoder step: about a quarter of a tiny.en final's compute).
  tiny.en's own signals cannot tell: it turns other languages into fluent English with a low
  no-speech probability on real speech (a French reading came back as "I am not sure what you
  can do for me"). An utterance is identified once its audio holds `identify_seconds` (its
  later partials then use the right model), or at its final. A final longer than
  `seconds_per_window` is identified on more windows spread over it (at most
  `identify_windows`) and takes the language most of them hear, so a long utterance that
  changes language mid-way goes to the language most of it is in; a live utterance, shorter,
  costs one identification;
- English utterances decode with tiny.en (while the session is English, beside the
  identification, on their own workers, so the final waits for the slower of the two), others
  with base in the identified language;
- a language other than the session's current one needs an identification at least
  `switch_probability` sure (`switch_probability_short` under `short_seconds`, where base is
  less sure of English: a short English clip can look Finnish to it); otherwise the
  utterance stays in the session's language. After a switch the session's recent text is not
  given as the prompt (it is in the other language).

The state is the language of the session's last final, which the streaming policy passes in,
so an utterance's route depends only on its audio and the finals before it, never on timing.
An explicit language or model is always obeyed (no routing).
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Awaitable, Callable

import numpy as np

from .whisper_decoder import DecodeRequest, Transcript

log = logging.getLogger(__name__)

Submit = Callable[[DecodeRequest, bool], Awaitable[tuple[Transcript, float]]]
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class RoutingOptions:
    identify_seconds: float = 3.0  # audio in one identification window
    # a final is identified on one window per `seconds_per_window` of it (at most
    # `identify_windows`), spread over it; its first window is the one its partials identified
    seconds_per_window: float = 10.0
    identify_windows: int = 3
    switch_probability: float = 0.5  # identification this sure of another language switches to it
    # Under `short_seconds` base is less sure of English (a short English clip can look Finnish
    # to it): another language must be surer still.
    short_seconds: float = 2.0
    switch_probability_short: float = 0.8


@dataclass(frozen=True)
class Identification:
    language: str
    probability: float


class LanguageRouter:
    """Decodes with the English model or the multilingual one, as the speech requires."""

    def __init__(self, english: Submit, multilingual: Submit, options: RoutingOptions | None = None):
        self._english = english
        self._multilingual = multilingual
        self.options = options or RoutingOptions()
        # the identification of the last utterance's first window, keyed by that window's audio (a
        # speculative final and the partials after it reuse it; a new utterance's audio differs)
        self._head: np.ndarray | None = None
        self._head_identification: Identification | None = None

    async def transcribe(self, request: DecodeRequest, final: bool, last_language: str) -> tuple[Transcript, float]:
        """Decode `request` (its language unset) given the language of the session's last final."""
        last_language = last_language or "en"
        if final:
            return await self._final(request, last_language)
        return await self._partial(request, last_language)

    async def _partial(self, request: DecodeRequest, last_language: str) -> tuple[Transcript, float]:
        busy = 0.0
        identification = self._known_head(request.audio)
        if identification is None and len(request.audio) >= self._window:
            identification, busy = await self._identify_head(request.audio)
        language = last_language if identification is None else self._route(identification, request, last_language)
        transcript, more = await self._decode(request, language, last_language, identification, False)
        return transcript, busy + more

    async def _final(self, request: DecodeRequest, last_language: str) -> tuple[Transcript, float]:
        head = self._known_head(request.audio)
        if last_language == "en" and (head is None or self._route(head, request, "en") == "en"):
            # English so far: tiny.en decodes while base identifies, on their own workers
            (identification, busy), (transcript, more) = await asyncio.gather(
                self._identify_utterance(request.audio, head), self._english(replace(request, language="en"), True))
            busy += more
            language = self._route(identification, request, last_language)
            if language == "en":
                return self._tagged(transcript, identification), busy
        else:
            identification, busy = await self._identify_utterance(request.audio, head)
            language = self._route(identification, request, last_language)
        if language != last_language:
            log.debug("utterance identified as %s (%.2f) after %s: decoding it with the %s model",
                      identification.language, identification.probability, last_language,
                      "English" if language == "en" else "multilingual")
        transcript, more = await self._decode(request, language, last_language, identification, True)
        return transcript, busy + more

    async def _decode(self, request: DecodeRequest, language: str, last_language: str,
                      identification: Identification | None, final: bool) -> tuple[Transcript, float]:
        # the session's recent text is in another language after a switch: not a prompt for this one
        request = replace(request, language=language,
                          previous=request.previous if language == last_language else "")
        if language == "en":
            transcript, busy = await self._english(request, final)
        else:
            transcript, busy = await self._multilingual(request, final)
        return (self._tagged(transcript, identification) if identification else transcript), busy

    def _route(self, identification: Identification, request: DecodeRequest, last_language: str) -> str:
        """The language to decode an utterance in: another language than the session's needs an
        identification at least this sure of it (surer for short utterances)."""
        short = len(request.audio) < self.options.short_seconds * SAMPLE_RATE
        needed = self.options.switch_probability_short if short else self.options.switch_probability
        if identification.language == last_language or identification.probability >= needed:
            return identification.language
        return last_language

    @staticmethod
    def _tagged(transcript: Transcript, identification: Identification) -> Transcript:
        """The result carries the identified language's probability (the language it was decoded in)."""
        if transcript.language == identification.language:
            transcript.language_probability = identification.probability
        else:
            transcript.language_probability = max(0.0, 1.0 - identification.probability)
        return transcript

    @property
    def _window(self) -> int:
        return int(self.options.identify_seconds * SAMPLE_RATE)

    def _known_head(self, audio: np.ndarray) -> Identification | None:
        head = self._head
        if head is None or len(audio) < len(head) or not np.array_equal(audio[:len(head)], head):
            return None
        return self._head_identification

    async def _identify_head(self, audio: np.ndarray) -> tuple[Identification, float]:
        head = audio[:self._window].copy()
        identification, busy = await self.identify(head)
        self._head, self._head_identification = head, identification
        return identification, busy

    async def _identify_utterance(self, audio: np.ndarray,
                                  head: Identification | None = None) -> tuple[Identification, float]:
        """The language most of `audio` is in: each window's language weighted by its probability
        (`head`: the first window's identification, when the partials made it)."""
        windows = self._windows(audio)

        async def identify(i: int, window: np.ndarray) -> tuple[Identification, float]:
            return (head, 0.0) if i == 0 and head is not None else await self.identify(window)

        results = await asyncio.gather(*(identify(i, w) for i, w in enumerate(windows)))
        votes: dict[str, float] = defaultdict(float)
        for identification, _ in results:
            votes[identification.language] += identification.probability
        language = max(votes, key=votes.__getitem__)
        return Identification(language, votes[language] / len(windows)), sum(busy for _, busy in results)

    def _windows(self, audio: np.ndarray) -> list[np.ndarray]:
        window = self._window
        count = min(max(1, self.options.identify_windows),
                    -(-len(audio) // int(self.options.seconds_per_window * SAMPLE_RATE)))
        if len(audio) <= window or count <= 1:
            return [audio[:window]]
        starts = np.linspace(0, len(audio) - window, count).astype(int)
        return [audio[s:s + window] for s in starts]

    async def identify(self, audio: np.ndarray) -> tuple[Identification, float]:
        """(language and its probability, compute seconds) of `audio`, one window."""
        transcript, busy = await self._multilingual(DecodeRequest(audio, detect_only=True), True)
        return Identification(transcript.language, transcript.language_probability), busy
