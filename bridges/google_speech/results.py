"""The core's results as Google Cloud Speech v1 messages (raw protobuf classes, no I/O).

A core `RecognitionResult` is one Google result with one alternative: its text as `transcript`,
its confidence (finals), its words (with `enable_word_time_offsets` / `enable_word_confidence`, or
speaker diarization: each with `speaker_tag`),
`stability` (interim results), `result_end_time`, `channel_tag` and `language_code`.
"""
from __future__ import annotations

import math

from google.cloud import speech_v1
from google.longrunning import operations_pb2
from google.protobuf import timestamp_pb2

from asr.v1 import asr_pb2

StreamingRecognizeResponse = speech_v1.StreamingRecognizeResponse.pb()
StreamingRecognitionResult = speech_v1.StreamingRecognitionResult.pb()
SpeechRecognitionResult = speech_v1.SpeechRecognitionResult.pb()
SpeechRecognitionAlternative = speech_v1.SpeechRecognitionAlternative.pb()
WordInfo = speech_v1.WordInfo.pb()
RecognizeResponse = speech_v1.RecognizeResponse.pb()
LongRunningRecognizeResponse = speech_v1.LongRunningRecognizeResponse.pb()
LongRunningRecognizeMetadata = speech_v1.LongRunningRecognizeMetadata.pb()
SpeechEventType = speech_v1.StreamingRecognizeResponse.SpeechEventType
ACTIVITY_EVENTS = {asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN: SpeechEventType.SPEECH_ACTIVITY_BEGIN,
                   asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END: SpeechEventType.SPEECH_ACTIVITY_END}


def language_code(result: asr_pb2.RecognitionResult, requested: str) -> str:
    """Google answers with the requested tag (lower case); the core may name only the language."""
    spoken = result.language.lower()
    if not spoken or requested.lower().split("-")[0] == spoken.split("-")[0]:
        return requested.lower()
    return spoken


def alternative(result: asr_pb2.RecognitionResult, *, word_times: bool, word_confidence: bool,
                speakers: bool = False) -> SpeechRecognitionAlternative:
    """With `speakers` (diarization), each word of a final carries `speaker_tag` (1, 2, …; 0 =
    unknown) and `speaker_label` (the tag as text), as Google's v1 does."""
    words = []
    if result.is_final and (word_times or word_confidence or speakers):  # Google's interim results carry no words
        for w in result.words:
            word = WordInfo(word=w.word.strip())
            if speakers:
                word.speaker_tag = w.speaker
                word.speaker_label = str(w.speaker) if w.speaker else ""
            if word_times:
                word.start_time.CopyFrom(w.start_offset)
                word.end_time.CopyFrom(w.end_offset)
            if word_confidence:
                word.confidence = w.confidence
            words.append(word)
    return SpeechRecognitionAlternative(transcript=result.text.strip(),
                                        confidence=result.confidence if result.is_final else 0.0, words=words)


def billed(audio_seconds: float) -> float:
    """Billed time: whole seconds, rounded up (Google v1 bills each request in 1 s increments)."""
    return float(math.ceil(audio_seconds)) if audio_seconds > 0 else 0.0


def long_running_metadata(started: float, now: float) -> LongRunningRecognizeMetadata:
    start, last = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromNanoseconds(int(started * 1e9))
    last.FromNanoseconds(int(now * 1e9))
    return LongRunningRecognizeMetadata(progress_percent=100, start_time=start, last_update_time=last)


def done_operation(name: str, response: LongRunningRecognizeResponse,
                   metadata: LongRunningRecognizeMetadata) -> operations_pb2.Operation:
    operation = operations_pb2.Operation(name=name, done=True)
    operation.response.Pack(response)
    operation.metadata.Pack(metadata)
    return operation

