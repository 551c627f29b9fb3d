"""Automatic language routing for sessions that name neither a language nor a model.

The default model, tiny.en, is English-only and fast; base is multilingual and about four
times slower. A session with no language follows the speaker utterance by utterance:

- while the session speaks English, utterances decode with tiny.en; an utterance's language is
  identified with base's language detection on its first seconds (a short encoder window, much
  cheaper than a decode) for the session's first utterance, and whenever tiny.en's own
  no-speech probability says the audio did not sound like the English it knows (tiny.en turns
  other languages into fluent English, so its text cannot tell);
- an utterance identified as another language is decoded again with base in that language, and
  the session follows it in base, which detects each utterance's language as it decodes; an
  utterance base hears as English brings the session back to tiny.en.

The state is the language of the session's last final, which the streaming policy passes in,
so an utterance's route depends only on its audio and the finals before it, never on timing.
An explicit language or model is always obeyed (no routing).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Awaitable, Callable

import numpy as np

from .whisper_decoder import DecodeRequest, Transcript

log = logging.getLogger(__name__)

Submit = Callable[[DecodeRequest, bool], Awaitable[tuple[Transcript, float]]]


@dataclass(frozen=True)
class RoutingOptions:
    identify_seconds: float = 3.0  # audio given to language identification
    suspicious_no_speech: float = 0.2  # tiny.en's no-speech probability that calls for identification
    # Identification this sure of another language switches to it; on audio tiny.en found
    # familiar (a short English clip can look Finnish to base) it must be surer still.
    switch_probability: float = 0.5
    switch_probability_when_familiar: float = 0.9


class LanguageRouter:
    """Decodes with the English model or the multilingual one, as the speech requires."""

    def __init__(self, english: Submit, multilingual: Submit, options: RoutingOptions | None = None):
        self._english = english
        self._multilingual = multilingual
        self.options = options or RoutingOptions()

    async def transcribe(self, request: DecodeRequest, final: bool, last_language: str) -> tuple[Transcript, float]:
        """Decode `request` (its language unset) given the language of the session's last final."""
        if last_language not in ("", "en"):
            transcript, busy = await self._multilingual(replace(request, language=None), final)
            return transcript, busy
        transcript, busy = await self._english(replace(request, language="en"), final)
        if not final or (last_language and transcript.no_speech_prob < self.options.suspicious_no_speech):
            return transcript, busy
        language, probability, lid_busy = await self.identify(request.audio)
        busy += lid_busy
        familiar = transcript.no_speech_prob < self.options.suspicious_no_speech
        needed = self.options.switch_probability_when_familiar if familiar else self.options.switch_probability
        if language != "en" and probability >= needed:
            log.debug("utterance identified as %s (%.2f): decoding with the multilingual model", language, probability)
            # the session's recent text is in another language now: not a prompt for this one
            transcript, more = await self._multilingual(replace(request, language=language, previous=""), final)
            transcript.language_probability = probability
            return transcript, busy + more
        transcript.language_probability = probability if language == "en" else 1.0 - probability
        return transcript, busy

    async def identify(self, audio: np.ndarray) -> tuple[str, float, float]:
        """(language, probability, compute seconds) from the first seconds of `audio`."""
        head = audio[:int(self.options.identify_seconds * 16000)]
        transcript, busy = await self._multilingual(DecodeRequest(head, detect_only=True), True)
        return transcript.language, transcript.language_probability, busy
