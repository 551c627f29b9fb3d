"""A fake Google Cloud Speech v1 server on loopback, spoken to by the real google-cloud-speech client.

It implements google.cloud.speech.v1.Speech/StreamingRecognize with a generic gRPC handler
using the library's own message types for (de)serialization. It recognizes nothing: its results
only describe what it received, so tests can check that no audio was lost or repeated:

- an interim result after every audio request: "heard <bytes>" (bytes since its last final);
- a final result every `final_every` seconds of audio, and one for the rest at half-close:
  "bytes <n>" with result_end_time = audio received so far in this stream, and one word per
  final spanning the finalized audio;
- SPEECH_ACTIVITY_BEGIN on the first audio when voice activity events were asked for.

Every stream's config, request sizes and audio are recorded in `streams`; `fail_with` makes
the next stream abort with that status after its first audio request.
"""
from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.cloud import speech_v1

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2
METHOD = "/google.cloud.speech.v1.Speech/StreamingRecognize"


@dataclass
class RecordedStream:
    config: speech_v1.StreamingRecognitionConfig | None = None
    audio: bytearray = field(default_factory=bytearray)
    request_sizes: list[int] = field(default_factory=list)
    finals: list[int] = field(default_factory=list)  # stream byte offsets where finals ended
    half_closed: bool = False
    first_audio_at: float = 0.0  # time.monotonic()
    half_closed_at: float = 0.0


class FakeSpeech:
    def __init__(self, final_every: float = 1.0):
        self.final_every = final_every
        self.streams: list[RecordedStream] = []
        self.fail_with: grpc.StatusCode | None = None
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handler = grpc.stream_stream_rpc_method_handler(
            self._recognize,
            request_deserializer=speech_v1.StreamingRecognizeRequest.deserialize,
            response_serializer=speech_v1.StreamingRecognizeResponse.serialize,
        )
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "google.cloud.speech.v1.Speech", {"StreamingRecognize": handler})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> "FakeSpeech":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)

    def reset(self) -> None:
        with self._lock:
            self.streams.clear()
            self.fail_with = None

    @staticmethod
    def _final(stream: RecordedStream, upto: int, last: int) -> speech_v1.StreamingRecognizeResponse:
        stream.finals.append(upto)
        start, end = timedelta(seconds=last / BYTES_PER_SECOND), timedelta(seconds=upto / BYTES_PER_SECOND)
        word = speech_v1.WordInfo(word=f"b{upto - last}", start_time=start, end_time=end, confidence=0.9)
        alt = speech_v1.SpeechRecognitionAlternative(transcript=f"bytes {upto - last}", confidence=0.9, words=[word])
        result = speech_v1.StreamingRecognitionResult(
            alternatives=[alt], is_final=True, result_end_time=end, language_code=stream.config.config.language_code)
        return speech_v1.StreamingRecognizeResponse(results=[result])

    def _recognize(self, requests, context):
        stream = RecordedStream()
        with self._lock:
            self.streams.append(stream)
            fail, self.fail_with = self.fail_with, None
        first = next(requests, None)
        if first is None or "streaming_config" not in first:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first request must carry streaming_config")
        stream.config = first.streaming_config
        every = int(self.final_every * BYTES_PER_SECOND)
        last_final = 0
        for request in requests:
            if "streaming_config" in request:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "streaming_config sent twice")
            chunk = request.audio_content
            stream.request_sizes.append(len(chunk))
            if len(chunk) > 25 * 1024:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Request audio exceeds 25 KB")
            if fail is not None:
                context.abort(fail, f"scripted failure {fail.name}")
            if not stream.audio and stream.config.enable_voice_activity_events:
                yield speech_v1.StreamingRecognizeResponse(
                    speech_event_type=speech_v1.StreamingRecognizeResponse.SpeechEventType.SPEECH_ACTIVITY_BEGIN,
                    speech_event_time=timedelta(0))
            if not stream.audio:
                stream.first_audio_at = time.monotonic()
            stream.audio += chunk
            while len(stream.audio) - last_final >= every:
                yield self._final(stream, last_final + every, last_final)
                last_final += every
            if stream.config.interim_results and len(stream.audio) > last_final:
                heard = len(stream.audio) - last_final
                yield speech_v1.StreamingRecognizeResponse(results=[speech_v1.StreamingRecognitionResult(
                    alternatives=[speech_v1.SpeechRecognitionAlternative(transcript=f"heard {heard}")],
                    stability=0.5, result_end_time=timedelta(seconds=len(stream.audio) / BYTES_PER_SECOND))])
        stream.half_closed, stream.half_closed_at = True, time.monotonic()
        if len(stream.audio) > last_final:
            yield self._final(stream, len(stream.audio), last_final)
