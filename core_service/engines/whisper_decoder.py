"""Decoding one batch of utterances with a CTranslate2 Whisper model.

Whisper is trained on 30 s windows, but CTranslate2 accepts shorter encoder inputs, and the
encoder's cost grows with the window. Short utterances are therefore encoded in a *trimmed*
window (the audio plus some silence, at least `MIN_WINDOW_FRAMES`), decoded in timestamp mode,
and cut where the timestamps stop making sense (going backwards or past the audio): that is
where a trimmed window can make Whisper repeat itself. Trimmed windows cost a third of a full
one but change words on real speech ("clubs" heard as "clothes"), so a request may ask for
Whisper's classic 30-second window (`full_window`): the core does for finals, as offline
Whisper does (bench/accuracy.py, docs/performance.md). `window="full"` uses it for every request.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .no_speech import average_logprob, compression_ratio, whisper_says_no_speech
from .word_punctuation import merge_punctuation

log = logging.getLogger(__name__)

HOP = 160  # samples per mel frame
FULL_WINDOW_FRAMES = 3000
MIN_WINDOW_FRAMES = 1000  # 10 s: below this, trimmed windows repeat themselves too often
TAIL_FRAMES = 300  # silence after the audio inside a trimmed window
# Prompt budget in tokens (Whisper allows 223 before the start-of-transcript sequence; the
# decoder's cost grows with it): the client's prompt and hotwords first, then the most recent
# final text.
WHISPER_MAX_TOKENS = 448  # the decoder's context: prompt and text together
MAX_PROMPT_TOKENS = 64
MAX_HOTWORD_TOKENS = 48
MAX_PREVIOUS_TOKENS = 96
SENTENCE_TOKENS = 8  # a run this long repeated back to back at the end of a decode is a loop


@dataclass
class DecodeRequest:
    audio: np.ndarray  # 16 kHz mono float32
    language: str | None = None  # ISO 639-1; None = detect (multilingual models)
    task: str = "transcribe"
    beam_size: int = 1
    word_timestamps: bool = False
    prompt: str = ""  # the client's context text (Whisper's initial prompt)
    previous: str = ""  # the session's recent final text
    hotwords: str = ""  # phrases to favour, comma-separated
    detect_only: bool = False  # identify the language only (multilingual models): no text
    full_window: bool = False  # encode in Whisper's 30 s window, as offline Whisper does (finals)


@dataclass
class DecodedWord:
    word: str
    start: float  # seconds from the start of the request's audio
    end: float
    probability: float


@dataclass
class Transcript:
    text: str
    words: list[DecodedWord] = field(default_factory=list)
    language: str = ""
    language_probability: float = 0.0
    avg_logprob: float = 0.0  # per token, the end token counted, as faster-whisper reports it
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0

    @property
    def confidence(self) -> float:
        return float(np.exp(self.avg_logprob)) if self.text else 0.0

    @property
    def is_hallucination(self) -> bool:
        """Whisper's own no-speech test (no_speech.py): likely silence and a text it is not sure of."""
        return whisper_says_no_speech(self.no_speech_prob, self.avg_logprob, self.compression_ratio)


class WhisperDecoder:
    """Wraps a faster-whisper model; thread-compatible (one batch at a time per instance)."""

    def __init__(self, model_path: str, *, compute_type: str = "int8", cpu_threads: int = 1,
                 window: str = "trimmed", workers: int = 1, device: str = "cpu", device_index: int = 0):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        t0 = time.monotonic()
        self.model = WhisperModel(model_path, device=device, device_index=device_index, compute_type=compute_type,
                                  cpu_threads=cpu_threads, num_workers=workers)
        self.multilingual = self.model.model.is_multilingual
        self.window = window
        self._tokenizer_cls = Tokenizer
        self._tokenizers: dict[tuple[str | None, str], object] = {}
        log.info("loaded whisper model %s on %s:%d (%s, %d threads) in %.1fs", model_path, device, device_index,
                 compute_type, cpu_threads, time.monotonic() - t0)

    def tokenizer(self, language: str | None, task: str):
        key = (language, task)
        tok = self._tokenizers.get(key)
        if tok is None:
            tok = self._tokenizer_cls(self.model.hf_tokenizer, self.multilingual,
                                      task=task if self.multilingual else None,
                                      language=language if self.multilingual else None)
            self._tokenizers[key] = tok
        return tok

    def window_frames(self, n_frames: int, full: bool = False) -> int:
        """The encoder window (mel frames) of a request of `n_frames` frames."""
        if full or self.window == "full":
            return FULL_WINDOW_FRAMES
        return int(min(FULL_WINDOW_FRAMES, max(MIN_WINDOW_FRAMES, n_frames + TAIL_FRAMES)))

    def decode(self, requests: list[DecodeRequest]) -> list[Transcript]:
        """Transcribe a batch; all requests share one encoder call."""
        if any(r.detect_only for r in requests):
            return [self.identify(r) if r.detect_only else self.decode([r])[0] for r in requests]
        max_frames = max(len(r.audio) // HOP + 1 for r in requests)
        window = self.window_frames(max_frames, any(r.full_window for r in requests))
        encoder_output = self._encode(requests, window)

        languages = self._languages(requests, encoder_output)
        prompts, tokenizers = [], []
        for r, (lang, _) in zip(requests, languages):
            tok = self.tokenizer(lang, r.task)
            tokenizers.append(tok)
            prompts.append(self.prompt(tok, r))
        beam = max(r.beam_size for r in requests) or 1
        # CTranslate2 counts the prompt in max_length: leave the text its budget after the
        # longest prompt (a prompt as long as the budget left no room, and the text came out empty)
        max_len = min(WHISPER_MAX_TOKENS, max(len(p) for p in prompts) + min(224, int(window / 100 * 8) + 16))
        outs = self.model.model.generate(
            encoder_output, prompts, beam_size=beam, max_length=max_len, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1],
        )
        results = []
        for i, (r, out, tok, (lang, lang_p)) in enumerate(zip(requests, outs, tokenizers, languages)):
            duration = len(r.audio) / 16000
            text_tokens = self._guarded_text_tokens(out.sequences_ids[0], tok, duration)
            avg_logprob = average_logprob(float(out.scores[0]), len(out.sequences_ids[0])) if out.scores else 0.0
            text = tok.decode(text_tokens).strip()
            words: list[DecodedWord] = []
            if r.word_timestamps and text_tokens:
                words = self._words(tok, text_tokens, encoder_output, i, min(window, len(r.audio) // HOP))
            results.append(Transcript(text=text, words=words, language=lang or "en",
                                      language_probability=lang_p, avg_logprob=avg_logprob,
                                      no_speech_prob=float(out.no_speech_prob),
                                      compression_ratio=compression_ratio(text)))
        return results

    def _encode(self, requests: list[DecodeRequest], window: int):
        from faster_whisper.transcribe import get_ctranslate2_storage

        fe = self.model.feature_extractor
        feats = np.zeros((len(requests), self.model.model.n_mels, window), dtype=np.float32)
        for i, r in enumerate(requests):
            audio = r.audio[: window * HOP]
            mel = fe(audio, padding=window * HOP - len(audio))[:, :window]
            feats[i, :, : mel.shape[1]] = mel
        return self.model.model.encode(get_ctranslate2_storage(feats), to_cpu=False)

    def identify(self, r: DecodeRequest) -> Transcript:
        """The spoken language of `r.audio` from an encoder window just as long as the audio:
        one encoder pass and one decoder step, a fraction of a decode."""
        if not self.multilingual:
            return Transcript(text="", language="en", language_probability=1.0)
        window = min(FULL_WINDOW_FRAMES, len(r.audio) // HOP + 1)
        token, probability = self.model.model.detect_language(self._encode([r], window))[0][0]
        return Transcript(text="", language=token[2:-2], language_probability=float(probability))

    @staticmethod
    def prompt(tok, r: DecodeRequest) -> list[int]:
        """Whisper's decoder prompt, as faster-whisper builds it: <|startofprev|>, then hotwords,
        the client's prompt and the recent text (each within its budget), then the start of
        the transcript."""
        context: list[int] = []
        if r.hotwords.strip():
            context += tok.encode(" " + r.hotwords.strip())[:MAX_HOTWORD_TOKENS]
        if r.prompt.strip():
            context += tok.encode(" " + r.prompt.strip())[:MAX_PROMPT_TOKENS]
        if r.previous.strip():
            context += tok.encode(" " + r.previous.strip())[-MAX_PREVIOUS_TOKENS:]
        return ([tok.sot_prev] + context if context else []) + list(tok.sot_sequence)

    def _languages(self, requests, encoder_output) -> list[tuple[str | None, float]]:
        if not self.multilingual:
            return [("en", 1.0)] * len(requests)
        out: list[tuple[str | None, float]] = [(r.language, 1.0) for r in requests]
        if any(r.language is None for r in requests):
            detected = self.model.model.detect_language(encoder_output)
            for i, r in enumerate(requests):
                if r.language is None:
                    token, prob = detected[i][0]
                    out[i] = (token[2:-2], float(prob))
        return out

    @staticmethod
    def _guarded_text_tokens(ids: list[int], tok, duration: float) -> list[int]:
        """Text tokens up to the point where timestamps go backwards or past the audio."""
        ts_begin = tok.timestamp_begin
        text: list[int] = []
        last_ts = -1.0
        segment: list[int] = []
        for t in ids:
            if t >= ts_begin:
                ts = (t - ts_begin) * 0.02
                if ts < last_ts - 1e-6 or ts > duration + 1.0:
                    break  # the model started over: everything after is a repetition
                last_ts = ts
                text.extend(segment)
                segment = []
            elif t < tok.eot:
                segment.append(t)
        text.extend(segment)
        return WhisperDecoder._cut_loop(text)

    @staticmethod
    def _cut_loop(tokens: list[int], min_repeats: int = 3, max_period: int = 40) -> list[int]:
        """Drop a phrase that repeats itself to the end ("the one who is the one who is ..."),
        keeping its first occurrence: Whisper's decoding loop, not speech. A whole sentence
        (`SENTENCE_TOKENS` or more) said twice in a row at the end is one too: in the full
        window Whisper sometimes writes a short utterance's only sentence twice."""
        n = len(tokens)
        for period in range(1, min(max_period, n // 2) + 1):
            repeats = 1
            while (repeats + 1) * period <= n and tokens[n - (repeats + 1) * period:n - repeats * period] == tokens[n - period:]:
                repeats += 1
            # short units repeat in real speech ("no, no, no"); demand more of them
            needed = min_repeats + 2 if period < 3 else 2 if period >= SENTENCE_TOKENS else min_repeats
            if repeats >= needed:
                return tokens[:n - (repeats - 1) * period]
        return tokens

    def _words(self, tok, text_tokens: list[int], encoder_output, index: int, num_frames: int) -> list[DecodedWord]:
        import ctranslate2

        # align() works on the whole batch; select this item's encoder output.
        enc = encoder_output
        if encoder_output.shape[0] > 1:
            arr = np.array(ctranslate2.StorageView.to_device(encoder_output, ctranslate2.Device.cpu))
            enc = ctranslate2.StorageView.from_array(np.ascontiguousarray(arr[index:index + 1]))
        try:
            alignment = self.model.find_alignment(tok, [text_tokens], enc, max(num_frames, 1))[0]
        except Exception:  # alignment is best effort; text is still valid
            log.exception("word alignment failed")
            return []
        return merge_punctuation([DecodedWord(w["word"], float(w["start"]), float(w["end"]), float(w["probability"]))
                                  for w in alignment])
