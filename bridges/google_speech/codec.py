"""google.cloud.speech.v1.Speech (and google.longrunning.Operations/GetOperation) as a sans-I/O codec.

One codec per call; `method` is the call's path:
- StreamingRecognize: the first request carries `streaming_config`, the others `audio_content`;
  responses carry results as the core gives them (interim with `interim_results`), speech
  activity events (`enable_voice_activity_events`), END_OF_SINGLE_UTTERANCE (`single_utterance`:
  after the first final, which is the last result), and a last response with `total_billed_time`.
  A stream longer than `max_stream_seconds` (Google: 305 s) ends with OUT_OF_RANGE after its results.
- Recognize: `config` + `audio.content` in one request; one RecognizeResponse with every final.
- LongRunningRecognize: as Recognize, answered with an Operation that is done (the call returns
  when the transcript is ready); GetOperation returns it again by name (bridges/google_speech/operations.py).
A config Google would refuse is INVALID_ARGUMENT (bridges/google_speech/config.py); core faults
map as on every gRPC dialect (bridges/faults.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import grpc
from google.longrunning import operations_pb2
from google.protobuf.message import Message

from asr.v1 import asr_pb2
from asr_common.durations import duration, seconds
from bridges.codec import Action, Codec, EndAudio, StartStream, send_audio
from bridges.endings import EndKind, Ending, client_fault, normal
from bridges.faults import CoreError, error_ending
from bridges.google_speech import results as r
from bridges.google_speech.config import ConfigError, core_config
from bridges.google_speech.operations import DEFAULT_CAPACITY, OperationStore
from bridges.limits import limit
from bridges.transport import SendMessage

SPEECH = "/google.cloud.speech.v1.Speech"
STREAMING_RECOGNIZE = f"{SPEECH}/StreamingRecognize"
RECOGNIZE = f"{SPEECH}/Recognize"
LONG_RUNNING_RECOGNIZE = f"{SPEECH}/LongRunningRecognize"
GET_OPERATION = "/google.longrunning.Operations/GetOperation"
SYNC_LIMIT_SECONDS = 60.0  # Google's Recognize takes at most one minute of audio
BYTES_PER_SAMPLE = {asr_pb2.AUDIO_ENCODING_LINEAR16: 2, asr_pb2.AUDIO_ENCODING_MULAW: 1}


@dataclass(frozen=True)
class GoogleSpeechSettings:
    max_stream_seconds: float = limit(305.0, "seconds a StreamingRecognize call may last; then OUT_OF_RANGE after "
                                             "its results (Google's limit: 305)")
    max_operations: int = limit(DEFAULT_CAPACITY, "LongRunningRecognize operations kept for GetOperation "
                                                  "(the oldest are dropped)")


class GoogleSpeechCodec(Codec):
    def __init__(self, method: str, settings: GoogleSpeechSettings, operations: OperationStore, engine: str = "",
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.method = method
        self.settings = settings
        self.engine = engine
        self.operations = operations
        self.clock, self.wall = clock, wall
        self.started, self.started_wall = clock(), wall()
        self.config: Message | None = None  # Google's RecognitionConfig
        self.streaming: Message | None = None  # Google's StreamingRecognitionConfig
        self.finals: list[asr_pb2.RecognitionResult] = []
        self.audio_seconds = 0.0  # from the core's summary
        self.over_limit = False
        self.utterance_over = False  # single_utterance: the first final was sent

    # ---- client messages ----------------------------------------------------------------------
    def received_text(self, text: str) -> list[Action]:
        return [client_fault("send protobuf messages")]

    def received_bytes(self, data: bytes) -> list[Action]:
        return [client_fault("send protobuf messages")]

    def received_message(self, message: Message) -> list[Action]:
        if self.method == GET_OPERATION:
            return self._get_operation(message)
        if self.method == STREAMING_RECOGNIZE:
            return self._streaming_request(message)
        return self._batch_request(message)

    def _streaming_request(self, request: Message) -> list[Action]:
        kind = request.WhichOneof("streaming_request")
        if self.streaming is None:
            if kind != "streaming_config":
                return [invalid("the first StreamingRecognizeRequest must carry streaming_config, not audio_content")]
            self.streaming, self.config = request.streaming_config, request.streaming_config.config
            return self._start(interim_results=self.streaming.interim_results)
        if kind == "streaming_config":
            return [invalid("streaming_config may only be sent in the first request; send audio_content after it")]
        if self.utterance_over or self.over_limit:
            return []  # Google ignores audio after the end of a single utterance
        return send_audio(request.audio_content)

    def _batch_request(self, request: Message) -> list[Action]:
        self.config = request.config
        if request.audio.WhichOneof("audio_source") != "content":
            return [invalid("audio.uri (Cloud Storage) is not supported by this server; send the audio as "
                            "audio.content")]
        actions = self._start(interim_results=False)
        if isinstance(actions[-1], Ending):
            return actions
        if self.method == RECOGNIZE:
            too_long = self._sync_too_long(len(request.audio.content), actions[0].config)
            if too_long:
                return [invalid(too_long)]
        return [*actions, *send_audio(request.audio.content)]

    def _start(self, interim_results: bool) -> list[Action]:
        try:
            config = core_config(self.config, self.engine, interim_results=interim_results)
        except ConfigError as exc:
            return [invalid(f"Invalid recognition 'config': {exc}")]
        return [StartStream(config)]

    def _sync_too_long(self, size: int, config: asr_pb2.StreamingConfig) -> str | None:
        width = BYTES_PER_SAMPLE.get(config.encoding)
        if width is None:
            return None  # compressed: the length is known only once decoded
        rate = config.sample_rate_hertz or (8000 if config.encoding == asr_pb2.AUDIO_ENCODING_MULAW else 16000)
        length = size / (width * rate * max(1, config.audio_channel_count))
        if length <= SYNC_LIMIT_SECONDS:
            return None
        return (f"Sync input too long ({length:.0f} s). For audio longer than 1 min use LongRunningRecognize "
                "with a 'uri' parameter: here, LongRunningRecognize with audio.content")

    def _get_operation(self, request: operations_pb2.GetOperationRequest) -> list[Action]:
        operation = self.operations.get(request.name)
        if operation is None:
            return [Ending(EndKind.CLIENT_FAULT, f"operation {request.name!r} not found (operations are kept for "
                           f"the last {self.operations.capacity} LongRunningRecognize calls of this server)",
                           grpc_code=grpc.StatusCode.NOT_FOUND)]
        return [SendMessage(operation), normal()]

    def input_ended(self) -> list[Action]:
        if self.method == GET_OPERATION or self.utterance_over or self.over_limit:
            return []
        if self.config is None:
            return [invalid("no StreamingRecognizeRequest with streaming_config was sent")]
        return [EndAudio()]

    # ---- the core -----------------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "summary":
            self.audio_seconds = seconds(response.summary.audio_processed)
            return []
        if kind == "speech_event":
            return self._speech_event(response.speech_event)
        if kind != "result" or self.utterance_over or not response.result.text.strip():
            return []
        result = response.result
        if self.method != STREAMING_RECOGNIZE:
            if result.is_final:
                self.finals.append(result)
            return []
        actions: list[Action] = []
        if result.is_final and self.streaming.single_utterance:
            self.utterance_over = True
            actions.append(SendMessage(r.StreamingRecognizeResponse(
                speech_event_type=r.SpeechEventType.END_OF_SINGLE_UTTERANCE, speech_event_time=result.end_offset)))
        actions.append(SendMessage(r.StreamingRecognizeResponse(results=[self._streaming_result(result)])))
        if self.utterance_over:
            actions.append(EndAudio())
        return actions

    def _speech_event(self, event: asr_pb2.SpeechEvent) -> list[Action]:
        google = r.ACTIVITY_EVENTS.get(event.type)
        if self.streaming is None or not self.streaming.enable_voice_activity_events or google is None:
            return []
        return [SendMessage(r.StreamingRecognizeResponse(speech_event_type=google, speech_event_time=event.offset))]

    def _streaming_result(self, result: asr_pb2.RecognitionResult) -> Message:
        return r.StreamingRecognitionResult(
            alternatives=[self._alternative(result)], is_final=result.is_final,
            stability=0.0 if result.is_final else result.stability, result_end_time=result.end_offset,
            channel_tag=result.channel_tag, language_code=r.language_code(result, self.config.language_code))

    def _alternative(self, result: asr_pb2.RecognitionResult) -> Message:
        return r.alternative(result, word_times=self.config.enable_word_time_offsets,
                             word_confidence=self.config.enable_word_confidence,
                             speakers=self.config.diarization_config.enable_speaker_diarization)

    def core_finished(self) -> list[Action]:
        billed = duration(r.billed(self.audio_seconds))
        if self.over_limit:
            return [self._past_the_limit()]
        if self.method == STREAMING_RECOGNIZE:
            return [SendMessage(r.StreamingRecognizeResponse(total_billed_time=billed)), normal()]
        results = [r.SpeechRecognitionResult(alternatives=[self._alternative(f)], channel_tag=f.channel_tag,
                                             result_end_time=f.end_offset,
                                             language_code=r.language_code(f, self.config.language_code))
                   for f in self.finals]
        if self.method == RECOGNIZE:
            return [SendMessage(r.RecognizeResponse(results=results, total_billed_time=billed)), normal()]
        response = r.LongRunningRecognizeResponse(results=results, total_billed_time=billed)
        operation = self.operations.add(response, r.long_running_metadata(self.started_wall, self.wall()))
        return [SendMessage(operation), normal()]

    def core_error(self, error: CoreError) -> list[Action]:
        return [error_ending(error, error.message)]

    # ---- timers -------------------------------------------------------------------------------
    def idle_timeout(self, default: float | None) -> float | None:
        if self.method != STREAMING_RECOGNIZE or self.over_limit or self.utterance_over:
            return default
        left = max(0.0, self.started + self.settings.max_stream_seconds - self.clock())
        return left if default is None else min(left, default)

    def idle(self) -> list[Action]:
        if self.method == STREAMING_RECOGNIZE and self.clock() >= self.started + self.settings.max_stream_seconds:
            self.over_limit = True
            return [EndAudio()] if self.config is not None else [self._past_the_limit()]
        if self.method == STREAMING_RECOGNIZE and self.config is not None:
            return [EndAudio()]  # no audio for the idle timeout: what was said is transcribed, then the end
        return [invalid("no request received in time")]

    def _past_the_limit(self) -> Ending:
        return Ending(EndKind.CLIENT_FAULT, "Exceeded maximum allowed stream duration of "
                      f"{self.settings.max_stream_seconds:g} seconds.", grpc_code=grpc.StatusCode.OUT_OF_RANGE)


def invalid(message: str) -> Ending:
    return Ending(EndKind.CLIENT_FAULT, message, grpc_code=grpc.StatusCode.INVALID_ARGUMENT)

