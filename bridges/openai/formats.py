"""The answers of /v1/audio/transcriptions and /translations in each `response_format`.

`json`: `{"text", "usage": {"type": "duration", "seconds"}}`; `text`: the transcript;
`srt`/`vtt`: one cue per final result; `verbose_json`: `task`, `language` (the code the engine
detected or was given, e.g. "en"), `duration`, `text`, `segments` (one per final result; the
engine's confidence as `avg_logprob`, Whisper-only fields `tokens`, `compression_ratio` and
`no_speech_prob` neutral) and, with `timestamp_granularities[]=word`, `words`; `diarized_json`
(the format of OpenAI's `gpt-4o-transcribe-diarize`): `task`, `duration`, `text`, `segments` of
type `transcript.text.segment`, one per run of words of one speaker (the core's diarization,
docs/diarization.md), speakers lettered `A`, `B`, … in the order they are first heard.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from asr.v1 import asr_pb2

FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
UNKNOWN_SPEAKER = "unknown"  # a diarized segment whose speaker the core could not tell


@dataclass(frozen=True)
class Final:
    text: str
    start: float
    end: float
    confidence: float
    words: tuple[tuple[str, float, float], ...] = ()
    speaker: int = 0  # with diarization: the core's label (1, 2, …; 0 = unknown)
    word_speakers: tuple[int, ...] = ()  # with diarization: one per word

    @classmethod
    def of(cls, result: asr_pb2.RecognitionResult) -> "Final":
        words = tuple((w.word.strip(), w.start_offset.ToTimedelta().total_seconds(),
                       w.end_offset.ToTimedelta().total_seconds()) for w in result.words)
        return cls(result.text.strip(), result.start_offset.ToTimedelta().total_seconds(),
                   result.end_offset.ToTimedelta().total_seconds(), result.confidence, words, result.speaker,
                   tuple(w.speaker for w in result.words))


@dataclass
class Transcript:
    task: str  # "transcribe" or "translate"
    finals: list[Final] = field(default_factory=list)
    language: str = ""
    duration: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(f.text for f in self.finals if f.text)

    def usage(self) -> dict:
        return {"type": "duration", "seconds": math.ceil(self.duration)}


def timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(transcript: Transcript) -> str:
    cues = [f"{i}\n{timestamp(f.start, ',')} --> {timestamp(f.end, ',')}\n{f.text}\n"
            for i, f in enumerate((f for f in transcript.finals if f.text), start=1)]
    return "\n".join(cues)


def vtt(transcript: Transcript) -> str:
    cues = [f"{timestamp(f.start, '.')} --> {timestamp(f.end, '.')}\n{f.text}\n"
            for f in transcript.finals if f.text]
    return "\n".join(["WEBVTT\n", *cues])


def verbose(transcript: Transcript, segments: bool, words: bool) -> dict:
    body: dict = {"task": transcript.task, "language": transcript.language, "duration": transcript.duration,
                  "text": transcript.text}
    if segments:
        body["segments"] = [
            {"id": i, "seek": 0, "start": f.start, "end": f.end, "text": f.text, "tokens": [], "temperature": 0.0,
             "avg_logprob": math.log(f.confidence) if f.confidence > 0 else 0.0, "compression_ratio": 1.0,
             "no_speech_prob": 0.0} for i, f in enumerate(f for f in transcript.finals if f.text)]
    if words:
        body["words"] = [{"word": w, "start": s, "end": e} for f in transcript.finals for (w, s, e) in f.words if w]
    body["usage"] = transcript.usage()
    return body


def speaker_letter(label: int) -> str:
    """1 -> "A", 2 -> "B", … 27 -> "AA"; 0 -> UNKNOWN_SPEAKER."""
    if not label:
        return UNKNOWN_SPEAKER
    letters = ""
    while label:
        label, rest = divmod(label - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def speaker_runs(final: Final) -> list[tuple[int, float, float, str]]:
    """(speaker, start, end, text) of each run of words of one speaker in a final (the whole final
    when it has no words)."""
    runs: list[list] = []
    for (word, start, end), speaker in zip(final.words, final.word_speakers):
        if not word:
            continue
        if runs and runs[-1][0] == speaker:
            runs[-1][2], runs[-1][3] = end, runs[-1][3] + " " + word
        else:
            runs.append([speaker, start, end, word])
    return [tuple(r) for r in runs] or [(final.speaker, final.start, final.end, final.text)]


def segment_events(final: Final, first_id: int) -> list[dict]:
    """A final's `transcript.text.segment` objects, one per run of one speaker's words, numbered
    from `first_id` (`seg_0`, `seg_1`, … across the transcript)."""
    return [{"type": "transcript.text.segment", "id": f"seg_{first_id + i}", "start": start, "end": end,
             "text": text, "speaker": speaker_letter(speaker)}
            for i, (speaker, start, end, text) in enumerate(speaker_runs(final))]


def diarized(transcript: Transcript) -> dict:
    segments: list[dict] = []
    for f in transcript.finals:
        if f.text:
            segments += segment_events(f, len(segments))
    return {"task": "transcribe", "duration": transcript.duration, "text": transcript.text, "segments": segments,
            "usage": transcript.usage()}
