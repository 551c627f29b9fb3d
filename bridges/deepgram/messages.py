"""Deepgram's messages and response bodies, built from the core's results (docs/deepgram.md).

Live: `Results`, `Metadata`, `SpeechStarted`, `UtteranceEnd`, `Error`; prerecorded: the
`{metadata, results: {channels, utterances}}` body; errors outside a WebSocket:
`{err_code, err_msg, request_id}`.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from asr.v1 import asr_pb2
from asr_common.durations import seconds
from bridges.google_stt.codec import strip_punctuation

MODEL_UUID = "00000000-0000-0000-0000-000000000000"  # no Deepgram model runs here; a fixed id


def rounded(value: float) -> float:
    return round(value, 3)


@dataclass
class Request:
    """What every message of one request repeats: its id, its model, its creation time."""

    request_id: str
    model_name: str
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
                         .isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    model_version: str = ""  # the core's engine and model once the session started

    def model_info(self) -> dict[str, str]:
        return {"name": self.model_name, "version": self.model_version or "unknown", "arch": "asr-gateway"}

    def results_metadata(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "model_info": self.model_info(), "model_uuid": MODEL_UUID}

    def metadata(self, duration: float, channels: int, warnings: tuple[dict[str, str], ...] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {"transaction_key": "deprecated", "request_id": self.request_id, "sha256": "",
                                "created": self.created, "duration": rounded(duration), "channels": channels,
                                "models": [MODEL_UUID], "model_info": {MODEL_UUID: self.model_info()}}
        if warnings:
            body["warnings"] = list(warnings)
        return body


def speaker_of(label: int) -> dict[str, Any]:
    """Deepgram's `speaker` (0-based) for a core label (1-based; 0 = unknown, then no field)."""
    return {"speaker": label - 1, "speaker_confidence": 1.0} if label else {}


def words_of(result: asr_pb2.RecognitionResult, punctuate: bool) -> list[dict[str, Any]]:
    words = []
    for w in result.words:
        text = w.word.strip()
        plain = strip_punctuation(text).lower() or text
        words.append({"word": plain, "start": rounded(seconds(w.start_offset)), "end": rounded(seconds(w.end_offset)),
                      "confidence": rounded(float(w.confidence)), **speaker_of(w.speaker),
                      "punctuated_word": text if punctuate else plain})
    return words


def transcript_of(result: asr_pb2.RecognitionResult, punctuate: bool) -> str:
    text = result.text.strip()
    return text if punctuate else strip_punctuation(text).lower()


def alternative(result: asr_pb2.RecognitionResult, punctuate: bool) -> dict[str, Any]:
    return {"transcript": transcript_of(result, punctuate), "confidence": rounded(float(result.confidence)),
            "words": words_of(result, punctuate)}


def results(result: asr_pb2.RecognitionResult | None, request: Request, *, channels: int, punctuate: bool,
            speech_final: bool = False, from_finalize: bool = False, at: float = 0.0) -> dict[str, Any]:
    """A `Results` message; `result` None is the empty final that answers a `Finalize` at once."""
    if result is None:
        start, end, alt, channel, is_final = at, at, {"transcript": "", "confidence": 0.0, "words": []}, 0, True
    else:
        start, end = seconds(result.start_offset), seconds(result.end_offset)
        alt, channel, is_final = alternative(result, punctuate), result.channel_tag, result.is_final
    return {"type": "Results", "channel_index": [channel, channels], "duration": rounded(max(0.0, end - start)),
            "start": rounded(start), "is_final": is_final, "speech_final": is_final and speech_final,
            "from_finalize": from_finalize, "channel": {"alternatives": [alt]},
            "metadata": request.results_metadata()}


def speech_started(event: asr_pb2.SpeechEvent, channels: int) -> dict[str, Any]:
    return {"type": "SpeechStarted", "channel": [event.channel_tag, channels],
            "timestamp": rounded(seconds(event.offset))}


def utterance_end(last_word_end: float, channel: int, channels: int) -> dict[str, Any]:
    return {"type": "UtteranceEnd", "channel": [channel, channels], "last_word_end": rounded(last_word_end)}


def live_error(description: str, variant: str = "Bad Request") -> dict[str, Any]:
    return {"type": "Error", "variant": variant, "description": description, "message": description}


def http_error(err_code: str, err_msg: str, request_id: str) -> dict[str, Any]:
    return {"err_code": err_code, "err_msg": err_msg, "request_id": request_id}
