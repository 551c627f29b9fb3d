"""A fake Google Cloud Speech v1 server on loopback, spoken to by the real google-cloud-speech client.

It implements google.cloud.speech.v1.Speech/StreamingRecognize with a generic gRPC handler
using the library's own message types for (de)serialization, and behaves like the real service
where the engine depends on it:

- it hears speech by energy (`voiced`: 20 ms frames above an RMS threshold) and says nothing
  at all during silence: no interim results, no finals, no events;
- interim results ("heard <bytes>") only while a speech region is open;
- a final only for a speech region, once `endpoint_seconds` of silence follow it (or at
  half-close): "speech <crc32> <bytes>" with result_end_time = the region's end, and one word
  spanning exactly the region, so a test can check that the region's audio arrived whole and
  in order (crc32 of the region's LINEAR16 bytes) and where it lies in the session;
- language codes come back lower-cased (`en-us`), as Google returns them;
- a stream that carries more than 305 s of audio (or lives longer than 305 s) fails with
  OUT_OF_RANGE "Exceeded maximum allowed stream duration of 305 seconds.", Google's error;
- SPEECH_ACTIVITY_BEGIN/END around each region when voice activity events were asked for.

Audio time is counted in bytes, so a test can stream ten minutes in seconds (time-compressed).
Every stream's config, request sizes and audio are recorded in `streams`. Scripted faults:
`fail_with` aborts the next stream with that status after its first audio request;
`error_response` makes the next stream answer a response whose `error` field carries that
status; `half_close_delay` holds the half-close final back that many seconds, as Google takes
a moment to finalize; `late_finals` holds every final back until half-close, as a Google that
lags behind audio sent faster than real time does.
"""
from __future__ import annotations

import threading
import time
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
import numpy as np
from google.cloud import speech_v1
from google.rpc import status_pb2

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2
FRAME_BYTES = 640  # 20 ms
VOICED_RMS = 0.03  # a frame louder than this is speech (quiet noise and silence are not)
STREAM_LIMIT_SECONDS = 305
LIMIT_MESSAGE = f"Exceeded maximum allowed stream duration of {STREAM_LIMIT_SECONDS} seconds."
Activity = speech_v1.StreamingRecognizeResponse.SpeechEventType


def voiced(frame: bytes) -> bool:
    x = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0
    return bool(len(x)) and float(np.sqrt(np.mean(x * x))) > VOICED_RMS


def speech_regions(pcm: bytes, endpoint_seconds: float) -> list[tuple[int, int]]:
    """(start, end) byte offsets of the speech regions the fake finalizes in `pcm`."""
    regions, start, last, gap = [], None, 0, int(endpoint_seconds * BYTES_PER_SECOND)
    for i in range(0, len(pcm) - len(pcm) % FRAME_BYTES, FRAME_BYTES):
        if voiced(pcm[i:i + FRAME_BYTES]):
            if start is None:
                start = i
            last = i + FRAME_BYTES
        elif start is not None and i + FRAME_BYTES - last >= gap:
            regions.append((start, last))
            start = None
    if start is not None:
        regions.append((start, last))
    return regions


@dataclass
class RecordedStream:
    config: speech_v1.StreamingRecognitionConfig | None = None
    audio: bytearray = field(default_factory=bytearray)
    request_sizes: list[int] = field(default_factory=list)
    finals: list[tuple[int, int]] = field(default_factory=list)  # (start, end) byte offsets finalized
    half_closed: bool = False
    failed: str = ""  # the status it was aborted with
    finished: bool = False  # the call is over (ended, failed or cancelled)
    opened_at: float = field(default_factory=time.monotonic)
    first_audio_at: float = 0.0
    half_closed_at: float = 0.0


class _Region:
    """The speech detector of one stream, frame by frame."""

    def __init__(self, endpoint_seconds: float):
        self.gap = int(endpoint_seconds * BYTES_PER_SECOND)
        self.scanned = 0  # bytes of the stream examined
        self.late: list[tuple[int, int]] = []  # regions ended, their finals held (late_finals)
        self.start: int | None = None
        self.last = 0  # end of the last voiced frame


class FakeSpeech:
    def __init__(self, endpoint_seconds: float = 0.5):
        self.endpoint_seconds = endpoint_seconds
        self.streams: list[RecordedStream] = []
        self.fail_with: grpc.StatusCode | None = None
        self.error_response: grpc.StatusCode | None = None
        self.half_close_delay = 0.0
        self.late_finals = False
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
            self.fail_with = self.error_response = None
            self.half_close_delay = 0.0
            self.late_finals = False

    # --- responses ----------------------------------------------------------------------------

    @staticmethod
    def _final(stream: RecordedStream, start: int, end: int) -> speech_v1.StreamingRecognizeResponse:
        stream.finals.append((start, end))
        crc = zlib.crc32(bytes(stream.audio[start:end]))
        t0, t1 = timedelta(seconds=start / BYTES_PER_SECOND), timedelta(seconds=end / BYTES_PER_SECOND)
        word = speech_v1.WordInfo(word=f"w{crc:08x}", start_time=t0, end_time=t1, confidence=0.9)
        alt = speech_v1.SpeechRecognitionAlternative(
            transcript=f"speech {crc:08x} {end - start}", confidence=0.9, words=[word])
        result = speech_v1.StreamingRecognitionResult(
            alternatives=[alt], is_final=True, result_end_time=t1,
            language_code=stream.config.config.language_code.lower())
        return speech_v1.StreamingRecognizeResponse(results=[result])

    @staticmethod
    def _event(kind, at: int) -> speech_v1.StreamingRecognizeResponse:
        return speech_v1.StreamingRecognizeResponse(
            speech_event_type=kind, speech_event_time=timedelta(seconds=at / BYTES_PER_SECOND))

    def _scan(self, stream: RecordedStream, region: _Region):
        """Responses for the whole frames received since the last scan."""
        events = stream.config.enable_voice_activity_events
        end = len(stream.audio) - len(stream.audio) % FRAME_BYTES
        while region.scanned < end:
            i = region.scanned
            region.scanned += FRAME_BYTES
            if voiced(bytes(stream.audio[i:i + FRAME_BYTES])):
                if region.start is None:
                    region.start = i
                    if events:
                        yield self._event(Activity.SPEECH_ACTIVITY_BEGIN, i)
                region.last = i + FRAME_BYTES
            elif region.start is not None and region.scanned - region.last >= region.gap:
                if events:
                    yield self._event(Activity.SPEECH_ACTIVITY_END, region.last)
                if self.late_finals:
                    region.late.append((region.start, region.last))
                else:
                    yield self._final(stream, region.start, region.last)
                region.start = None
        if region.start is not None and stream.config.interim_results:
            heard = region.scanned - region.start
            yield speech_v1.StreamingRecognizeResponse(results=[speech_v1.StreamingRecognitionResult(
                alternatives=[speech_v1.SpeechRecognitionAlternative(transcript=f"heard {heard}")],
                stability=0.5, result_end_time=timedelta(seconds=region.scanned / BYTES_PER_SECOND),
                language_code=stream.config.config.language_code.lower())])

    def wait_finished(self, timeout: float = 30.0) -> None:
        """Until every stream's call is over: a stream replaced by a restart ends on its own."""
        deadline = time.monotonic() + timeout
        while not all(s.finished for s in self.streams):
            assert time.monotonic() < deadline, "a Google stream never ended"
            time.sleep(0.05)

    def _recognize(self, requests, context):
        stream = RecordedStream()
        try:
            yield from self._serve(stream, requests, context)
        finally:
            stream.finished = True

    def _serve(self, stream: RecordedStream, requests, context):
        with self._lock:
            self.streams.append(stream)
            fail, self.fail_with = self.fail_with, None
            error, self.error_response = self.error_response, None
            delay = self.half_close_delay

        def abort(code: grpc.StatusCode, message: str):
            stream.failed = code.name
            context.abort(code, message)

        first = next(requests, None)
        if first is None or "streaming_config" not in first:
            abort(grpc.StatusCode.INVALID_ARGUMENT, "first request must carry streaming_config")
        stream.config = first.streaming_config
        region = _Region(self.endpoint_seconds)
        for request in requests:
            if "streaming_config" in request:
                abort(grpc.StatusCode.INVALID_ARGUMENT, "streaming_config sent twice")
            chunk = request.audio_content
            stream.request_sizes.append(len(chunk))
            if len(chunk) > 25 * 1024:
                abort(grpc.StatusCode.INVALID_ARGUMENT, "Request audio exceeds 25 KB")
            if fail is not None:
                abort(fail, f"scripted failure {fail.name}")
            if error is not None:
                yield speech_v1.StreamingRecognizeResponse(error=status_pb2.Status(
                    code=error.value[0], message=f"scripted response error {error.name}"))
                return
            if not stream.audio:
                stream.first_audio_at = time.monotonic()
            stream.audio += chunk
            if (len(stream.audio) > STREAM_LIMIT_SECONDS * BYTES_PER_SECOND
                    or time.monotonic() - stream.opened_at > STREAM_LIMIT_SECONDS):
                abort(grpc.StatusCode.OUT_OF_RANGE, LIMIT_MESSAGE)
            yield from self._scan(stream, region)
        stream.half_closed, stream.half_closed_at = True, time.monotonic()
        for start, end in region.late:
            yield self._final(stream, start, end)
        if region.start is not None:
            if delay:
                time.sleep(delay)
            if stream.config.enable_voice_activity_events:
                yield self._event(Activity.SPEECH_ACTIVITY_END, region.last)
            yield self._final(stream, region.start, region.last)
