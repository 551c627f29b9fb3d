"""The answers of /v1/audio/transcriptions and /translations in each `response_format`.

`json`: `{"text", "usage": {"type": "duration", "seconds"}}`; `text`: the transcript;
`srt`/`vtt`: one cue per final result; `verbose_json`: `task`, `language` (the code the engine
detected or was given, e.g. "en"), `duration`, `text`, `segments` (one per final result; the
engine's confidence as `avg_logprob`, Whisper-only fields `tokens`, `compression_ratio` and
`no_speech_prob` neutral) and, with `timestamp_granularities[]=word`, `words`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from asr.v1 import asr_pb2

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


@dataclass(frozen=True)
class Final:
    text: str
    start: float
    end: float
    confidence: float
    words: tuple[tuple[str, float, float], ...] = ()

    @classmethod
    def of(cls, result: asr_pb2.RecognitionResult) -> "Final":
        words = tuple((w.word.strip(), w.start_offset.ToTimedelta().total_seconds(),
                       w.end_offset.ToTimedelta().total_seconds()) for w in result.words)
        return cls(result.text.strip(), result.start_offset.ToTimedelta().total_seconds(),
                   result.end_offset.ToTimedelta().total_seconds(), result.confidence, words)


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
