"""Deepgram's live API (`GET /v1/listen`, WebSocket) as a sans-I/O state machine.

| state     | event                          | actions                                    | next      |
|-----------|--------------------------------|--------------------------------------------|-----------|
| (open)    | connected, options valid       | StartStream                                | STREAMING |
| (open)    | connected, options invalid     | Error, close 1008                          | DONE      |
| STREAMING | binary audio                   | SendAudio                                  | STREAMING |
| STREAMING | KeepAlive                      | (none: the frame itself resets the idle)   | STREAMING |
| STREAMING | Finalize, words pending        | FinalizeUtterance; next final from_finalize| STREAMING |
| STREAMING | Finalize, nothing pending      | empty final, from_finalize, at once        | STREAMING |
| STREAMING | CloseStream (or empty binary)  | EndAudio                                   | CLOSING   |
| STREAMING | ~10 s without a frame          | close 1011 NET-0001                        | DONE      |
| any       | core result                    | Results (+ UtteranceEnd)                   | same      |
| CLOSING   | core finished                  | Metadata, close 1000                       | DONE      |

`is_final` is a final transcript of a stretch of audio; `speech_final` marks the end of the
speaker's turn found by endpointing (the core's VAD silence), false on a final that answers a
`Finalize` and with `endpointing=false`.
"""
from __future__ import annotations

import enum
import uuid

from asr.v1 import asr_pb2
from asr_common.durations import seconds
from bridges.codec import Action, Codec, EndAudio, EndReason, Refusal, SendControl, StartStream, send_audio
from bridges.deepgram import messages
from bridges.deepgram.options import ListenOptions
from bridges.endings import EndKind, Ending, client_fault, normal
from bridges.faults import CoreError, describe, error_ending
from bridges.fields import FieldError, parse_json_object
from bridges.transport import SendJson

IDLE_SECONDS = 10.0  # Deepgram closes a stream without audio or KeepAlive for 10 s
NET_0001 = ("Deepgram did not receive audio data or a text message within the timeout window. "
            "See https://dpgr.am/net0001")
NET_0001_CODE = 1011


class State(enum.Enum):
    STREAMING = "streaming"
    CLOSING = "closing"
    DONE = "done"


class LiveCodec(Codec):
    def __init__(self, query: dict[str, str], engine: str = "") -> None:
        self.query = query
        self.engine = engine
        self.state = State.STREAMING
        self.options = ListenOptions()
        self.request = messages.Request(str(uuid.uuid4()), query.get("model") or "general")
        self.odd = b""  # linear16: a frame may end inside a sample
        self.audio_bytes = 0
        self.pending_words = False  # a partial came since the last final
        self.finalizing = False  # a Finalize waits for its final
        self.last_end = 0.0  # the end of the last result (where an empty final sits)
        self.audio_seconds = 0.0

    def connected(self) -> list[Action]:
        try:
            self.options = ListenOptions.parse(self.query, live=True)
        except FieldError as exc:
            self.state = State.DONE
            return [SendJson(messages.live_error(str(exc))), client_fault(str(exc))]
        return [StartStream(self.options.to_proto(self.engine))]

    # ---- client frames ----------------------------------------------------------------------
    def received_bytes(self, data: bytes) -> list[Action]:
        if self.state is not State.STREAMING:
            return []
        if not data:  # Deepgram's older way to say CloseStream
            return self._close_stream()
        if self.options.encoding in ("linear16", "linear32"):
            data = self.odd + data
            whole = len(data) - len(data) % 2
            data, self.odd = data[:whole], data[whole:]
        self.audio_bytes += len(data)
        return send_audio(data) if data else []

    def received_text(self, text: str) -> list[Action]:
        try:
            kind = parse_json_object(text, "a control message").get("type")
        except FieldError:
            kind = None
        if kind == "KeepAlive":
            return []
        if kind == "Finalize":
            return self._finalize()
        if kind == "CloseStream":
            return self._close_stream()
        return [SendJson(messages.live_error(
            "unknown message; send binary audio, or {\"type\": \"KeepAlive\"}, {\"type\": \"Finalize\"} or "
            "{\"type\": \"CloseStream\"} (this one was ignored)"))]

    def _finalize(self) -> list[Action]:
        if self.state is not State.STREAMING:
            return []
        control = SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))
        if self.pending_words and not self.finalizing:
            self.finalizing = True
            return [control]
        # Nothing heard to finalize (or a Finalize already waits for those words): the answer
        # comes at once (Pipecat waits for one per Finalize).
        return [control, SendJson(messages.results(None, self.request, channels=self.options.channels,
                                                   punctuate=self.options.punctuate, from_finalize=True,
                                                   at=self.last_end))]

    def _close_stream(self) -> list[Action]:
        self.state = State.CLOSING
        return [EndAudio()]

    # ---- the core ---------------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            started = response.session_started
            self.request.model_version = "/".join(p for p in (started.engine, started.model) if p)
            return []
        if kind == "speech_event":
            event = response.speech_event
            if self.options.vad_events and event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN:
                return [SendJson(messages.speech_started(event, self.options.channels))]
            return []
        if kind == "summary":
            self.audio_seconds = seconds(response.summary.audio_processed)
            return []
        if kind != "result":
            return []
        return self._result(response.result)

    def _result(self, result: asr_pb2.RecognitionResult) -> list[Action]:
        if not result.is_final:
            if not result.text.strip():
                return []
            self.pending_words = True
            return [SendJson(messages.results(result, self.request, channels=self.options.channels,
                                              punctuate=self.options.punctuate))]
        from_finalize, self.finalizing, self.pending_words = self.finalizing, False, False
        self.last_end = seconds(result.end_offset)
        speech_final = self.options.speech_final and not from_finalize
        actions: list[Action] = [SendJson(messages.results(
            result, self.request, channels=self.options.channels, punctuate=self.options.punctuate,
            speech_final=speech_final, from_finalize=from_finalize))]
        if self.options.utterance_end_ms is not None and result.words:
            actions.append(SendJson(messages.utterance_end(seconds(result.words[-1].end_offset), result.channel_tag,
                                                           self.options.channels)))
        return actions

    def core_finished(self) -> list[Action]:
        self.state = State.DONE
        duration = self.audio_seconds or self.last_end
        return [SendJson({"type": "Metadata", **self.request.metadata(duration, self.options.channels,
                                                                      self.options.warnings)}), normal()]

    def core_error(self, error: CoreError) -> list[Action]:
        self.state = State.DONE
        return [SendJson(messages.live_error(describe(error), "Error")), error_ending(error, describe(error))]

    # ---- runtime events ---------------------------------------------------------------------
    def idle(self) -> list[Action]:
        if self.state is not State.STREAMING:
            return []
        self.state = State.DONE
        return [Ending(EndKind.CLIENT_FAULT, NET_0001, ws_code=NET_0001_CODE)]

    def idle_timeout(self, default: float | None) -> float | None:
        return IDLE_SECONDS if self.state is State.STREAMING else None

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [SendJson(messages.live_error(f"a message of {size} bytes is over the {limit}-byte limit; send "
                                             "audio in smaller messages (this one was dropped)"))]

    def refused(self, code: Refusal, message: str) -> list[Action]:
        self.state = State.DONE
        return [SendJson(messages.live_error(message, "Error")), Ending(EndKind.BUSY, message)]

    def ending(self, reason: EndReason) -> list[Action]:
        if self.state is not State.STREAMING:
            return []
        self.state = State.CLOSING
        return [EndAudio()]  # the last results and Metadata follow, then the runtime's close
