"""Pure translations between our engine terms and Google Cloud Speech v1 (no I/O).

Session settings -> StreamingRecognitionConfig, Google responses -> our Result/SpeechBoundary
events (times shifted by where the Google stream started in our audio), Google errors ->
UpstreamError with our status codes, and float audio -> LINEAR16 request payloads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import grpc
import numpy as np

from asr_common.durations import seconds as proto_seconds

from .base import SAMPLE_RATE, Event, Result, SessionSettings, SpeechBoundary, UpstreamError, Word

# Google rejects StreamingRecognizeRequest audio over 25 KB; 400 ms of 16 kHz LINEAR16 stays far below.
MAX_REQUEST_BYTES = 12_800
BYTES_PER_SAMPLE = 2

# Google status -> the code our clients see. Deadline and availability problems are both
# "try again later" from a client's point of view.
STATUS_MAP = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "OUT_OF_RANGE": grpc.StatusCode.OUT_OF_RANGE,
    "PERMISSION_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "DEADLINE_EXCEEDED": grpc.StatusCode.UNAVAILABLE,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
}
RETRYABLE = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}


def seconds(value: Any) -> float:
    """A Duration as seconds: proto-plus gives timedelta, raw protobuf gives seconds/nanos."""
    if value is None:
        return 0.0
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return proto_seconds(value)


def to_linear16(audio: np.ndarray) -> bytes:
    # x 32768 inverts the core's LINEAR16 decoding exactly, so 16-bit input reaches Google bit-exact.
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()


def split_requests(pcm: bytes, limit: int = MAX_REQUEST_BYTES) -> Iterator[bytes]:
    """Pieces of at most `limit` bytes, cut on whole samples."""
    limit -= limit % BYTES_PER_SAMPLE
    for i in range(0, len(pcm), limit):
        yield pcm[i:i + limit]


def streaming_config(settings: SessionSettings, model: str):
    """The StreamingRecognitionConfig that opens every Google stream of a session."""
    from google.cloud import speech_v1

    config = speech_v1.RecognitionConfig(
        encoding=speech_v1.RecognitionConfig.AudioEncoding.LINEAR16,
        sample_rate_hertz=SAMPLE_RATE,
        audio_channel_count=1,
        language_code=settings.language,
        max_alternatives=1,
        enable_automatic_punctuation=settings.punctuation,
        enable_word_time_offsets=settings.word_time_offsets,
        enable_word_confidence=settings.word_time_offsets,
        model="" if model == "default" else model,
        # hotwords as speech adaptation phrases (a SpeechContext: Google's own lever for names)
        speech_contexts=[speech_v1.SpeechContext(phrases=list(settings.hotwords))] if settings.hotwords else [],
    )
    return speech_v1.StreamingRecognitionConfig(
        config=config,
        interim_results=settings.interim_results,
        enable_voice_activity_events=settings.vad.enabled,
    )


def upstream_error(exc: BaseException) -> UpstreamError:
    """Map a Google client error to the status our client sees, with Google's own message."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        status = getattr(exc, "grpc_status_code", None)
        name = status.name if status is not None else ""
        code = STATUS_MAP.get(name, grpc.StatusCode.UNAVAILABLE)
        retry = 1.0 if code in RETRYABLE else None
        return UpstreamError(f"Google Speech: {name or type(exc).__name__}: {exc.message}", code=code,
                             retry_after=retry)
    try:
        from google.auth import exceptions as auth_exc

        if isinstance(exc, auth_exc.GoogleAuthError):
            return UpstreamError(f"Google credentials rejected: {exc}; check GOOGLE_APPLICATION_CREDENTIALS",
                                 code=grpc.StatusCode.UNAUTHENTICATED)
    except ImportError:
        pass
    return UpstreamError(f"Google Speech stream failed: {type(exc).__name__}: {exc}",
                         code=grpc.StatusCode.UNAVAILABLE, retry_after=1.0)


def response_error(response: Any) -> UpstreamError | None:
    """The error a StreamingRecognizeResponse carries in its `error` field (google.rpc.Status),
    as the status our client sees; None when it carries none."""
    status = getattr(response, "error", None)
    if status is None or not status.code:
        return None
    name = next((c.name for c in grpc.StatusCode if c.value[0] == status.code), str(status.code))
    code = STATUS_MAP.get(name, grpc.StatusCode.UNAVAILABLE)
    return UpstreamError(f"Google Speech: {name}: {status.message}", code=code,
                         retry_after=1.0 if code in RETRYABLE else None)


def language_tag(reported: str, requested: str) -> str:
    """Google reports language codes lower-cased (`en-us`): give the tag the session asked for
    when it is the same language, else the reported one in BCP-47 casing (`zh-Hant-TW`)."""
    if not reported:
        return requested
    if reported.lower() == requested.lower():
        return requested
    parts = reported.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())  # script
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())  # region
        else:
            out.append(part.lower())
    return "-".join(out)


def interim_only(response: Any) -> bool:
    """A response with interim results and nothing else (no final, no speech event)."""
    return (not response.speech_event_type and bool(response.results)
            and not any(r.is_final for r in response.results))


@dataclass
class SegmentState:
    """Numbering and timing of a session's results across all of its Google streams."""

    segment_id: int = 1
    last_final_end: float = 0.0  # seconds from session start
    in_speech: bool = False  # a new Google stream reports speech begin again: report it once


def response_events(response: Any, offset: float, state: SegmentState, language: str,
                    until: float | None = None) -> list[Event]:
    """Our events for one StreamingRecognizeResponse of a Google stream that began at `offset`
    seconds of session audio. Finals advance `state`; interims share the next final's id.
    With `until` (a stream replaced by a restart), only finals and speech events up to that
    session time are kept: the audio after it went to the next stream."""
    from google.cloud import speech_v1

    events: list[Event] = []
    kind = response.speech_event_type
    activity = speech_v1.StreamingRecognizeResponse.SpeechEventType
    at = offset + seconds(response.speech_event_time)
    if until is not None and at > until:
        kind = activity.SPEECH_EVENT_UNSPECIFIED
    if kind == activity.SPEECH_ACTIVITY_BEGIN and not state.in_speech:
        state.in_speech = True
        events.append(SpeechBoundary("begin", at))
    elif kind == activity.SPEECH_ACTIVITY_END and state.in_speech:
        state.in_speech = False
        events.append(SpeechBoundary("end", at))

    interims = []
    for result in response.results:
        if not result.alternatives:
            continue
        if not result.is_final:
            if until is None:
                interims.append(result)
            continue
        if until is not None and offset + seconds(result.result_end_time) > until + 1e-9:
            continue
        alt = result.alternatives[0]
        end = max(offset + seconds(result.result_end_time), state.last_final_end)
        words = [Word(w.word, offset + seconds(w.start_time), offset + seconds(w.end_time), w.confidence)
                 for w in alt.words]
        events.append(Result(
            segment_id=state.segment_id, text=alt.transcript.strip(), is_final=True,
            start=state.last_final_end, end=end, stability=1.0, confidence=alt.confidence, words=words,
            language=language_tag(result.language_code, language),
        ))
        state.segment_id += 1
        state.last_final_end = end
    if interims:
        text = "".join(r.alternatives[0].transcript for r in interims).strip()
        if text:
            end = max(offset + max(seconds(r.result_end_time) for r in interims), state.last_final_end)
            stability = min(max(interims[0].stability, 0.01), 0.99)
            events.append(Result(
                segment_id=state.segment_id, text=text, is_final=False, start=state.last_final_end,
                end=end, stability=stability, language=language_tag(interims[0].language_code, language),
            ))
    return events
