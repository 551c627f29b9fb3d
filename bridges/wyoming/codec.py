"""Wyoming's speech-to-text events (the `wyoming` package's README) as a sans-I/O state machine.

Every transition, in one table (`TRANSITIONS`; anything else is answered with an `error` event
and the connection goes on)::

    state      client event   ->  state      what happens
    IDLE       transcribe         READY      model, language, names/terms remembered
    IDLE/READY audio-start        STREAMING  the core stream opens
    STREAMING  audio-chunk        STREAMING  its payload goes to the core (the first: transcript-start)
    STREAMING  audio-stop         FINISHING  the audio ends; the core's last finals follow
    FINISHING  (core finished)    IDLE       transcript, transcript-stop
    STREAMING/FINISHING (core error) IDLE    error

Any state: `describe` -> `info`, `ping` -> `pong`; other event types are dropped (the README:
"servers are expected to drop unrecognized events", e.g. `select-program`).
Results: each final of the core is a `transcript-chunk` as soon as it comes (stable text only,
never a partial that may still change); the chunks concatenate to the final `transcript`.
After `transcript-stop` the connection takes the next `transcribe`. EOF ends an open
transcription like `audio-stop`, then the connection closes.
"""
from __future__ import annotations

import enum
from typing import Any, Callable

from asr.v1 import asr_pb2
from bridges.codec import Action, Codec, EndAudio, EndReason, Refusal, StartStream, send_audio
from bridges.endings import EndKind, Ending, normal
from bridges.engine_catalog import EngineCatalog, ListingWait
from bridges.faults import CoreError, classify, describe
from bridges.fields import FieldError
from bridges.wyoming import events


class State(enum.Enum):
    IDLE = "idle"  # between transcriptions
    READY = "ready"  # transcribe received
    STREAMING = "streaming"  # audio-start received: the core stream is open
    FINISHING = "finishing"  # audio-stop received: waiting for the core's last results


ERROR_CODES = {EndKind.CLIENT_FAULT: "bad-request", EndKind.BUSY: "busy", EndKind.UNAVAILABLE: "unavailable",
               EndKind.SHUTTING_DOWN: "shutting-down", EndKind.INTERNAL: "internal-error"}


class WyomingCodec(Codec):
    def __init__(self, engine: str = "", catalog: EngineCatalog | None = None) -> None:
        self.engine = engine
        self.catalog = catalog or EngineCatalog(None)
        self.listing = ListingWait(self.catalog)  # a `describe` waiting for the core's listing
        self.state = State.IDLE
        self.request = events.Transcribe()
        self.format: events.AudioFormat | None = None
        self.chunk: events.AudioFormat | None = None  # the audio-chunk header whose payload comes next
        self.language = ""  # the transcription's language, as the client named it
        self.started = False  # transcript-start sent for this transcription
        self.finals: list[str] = []
        self.input_over = False

    # ---- client events -----------------------------------------------------------------------
    def received_text(self, text: str) -> list[Action]:
        self.chunk = None
        try:
            kind, data = events.read_header(text)
        except FieldError as exc:
            return [events.error(f"malformed event: {exc}; the event was dropped", "malformed-event")]
        handler = TRANSITIONS.get((self.state, kind)) or ANY_STATE.get(kind)
        if handler is not None:
            try:
                return handler(self, data)
            except FieldError as exc:
                return [events.error(f"invalid {kind} event: {exc}; the event was dropped", "invalid-event")]
        if kind in KNOWN:
            return [events.error(f"{kind} is not expected now ({self._expected()}); the event was dropped",
                                 "unexpected-event")]
        return []  # unrecognized events are dropped, as the protocol asks of servers

    def received_bytes(self, data: bytes) -> list[Action]:
        """The payload of the header just before it: audio for an accepted audio-chunk, else dropped."""
        chunk, self.chunk = self.chunk, None
        if chunk is None:
            return []
        if len(data) % chunk.frame_bytes:
            return [events.error(f"audio-chunk payload of {len(data)} bytes is not a whole number of "
                                 f"{chunk.frame_bytes}-byte frames (width {chunk.width}, channels {chunk.channels}); "
                                 "the chunk was dropped", "invalid-audio")]
        return send_audio(chunk.to_core(data))

    def _transcribe(self, data: dict[str, Any]) -> list[Action]:
        self.request = events.Transcribe.parse(data)
        self.state = State.READY
        return []

    def _audio_start(self, data: dict[str, Any]) -> list[Action]:
        self.format = events.AudioFormat.parse(data)
        request, self.request = self.request, events.Transcribe()
        self.state, self.started, self.finals, self.language = State.STREAMING, False, [], request.language
        return [StartStream(asr_pb2.StreamingConfig(
            engine=request.engine or self.engine, model=request.model, language=request.language,
            encoding=self.format.encoding(), sample_rate_hertz=self.format.rate,
            audio_channel_count=self.format.channels, interim_results=False, hotwords=list(request.hotwords),
            enable_automatic_punctuation=True))]

    def _audio_chunk(self, data: dict[str, Any]) -> list[Action]:
        chunk = events.AudioFormat.parse(data)
        if chunk != self.format:
            return [events.error(f"audio-chunk format {chunk} differs from audio-start's {self.format}; send every "
                                 "chunk in the format of audio-start (the chunk was dropped)", "invalid-audio")]
        self.chunk = chunk
        return self._start_transcript()

    def _audio_stop(self, data: dict[str, Any]) -> list[Action]:
        self.state = State.FINISHING
        return [EndAudio()]

    def _describe(self, data: dict[str, Any]) -> list[Action]:
        return [events.info(self.catalog.models)] if self.listing.start() else []  # else answered from `idle`

    def _ping(self, data: dict[str, Any]) -> list[Action]:
        return [events.event("pong", {"text": data["text"]} if isinstance(data.get("text"), str) else None)]

    def _audio_out_of_turn(self, data: dict[str, Any]) -> list[Action]:
        return [events.error("audio-chunk before audio-start; send audio-start (rate, width, channels) first "
                             "(the chunk was dropped)", "audio-before-start")]

    def _expected(self) -> str:
        return {State.IDLE: "send transcribe or audio-start", State.READY: "send audio-start",
                State.STREAMING: "send audio-chunk or audio-stop",
                State.FINISHING: "the transcript is on its way"}[self.state]

    def input_ended(self) -> list[Action]:
        self.input_over = True
        if self.state is State.STREAMING:
            self.state = State.FINISHING
            return [EndAudio()]
        return [] if self.state is State.FINISHING else [normal("client closed")]

    # ---- the core ----------------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        if response.WhichOneof("response") != "result" or not response.result.is_final:
            return []
        text = response.result.text.strip()
        if not text:
            return []
        chunk = f" {text}" if self.finals else text  # the chunks concatenate to the transcript
        self.finals.append(text)
        return [*self._start_transcript(), events.event("transcript-chunk", {"text": chunk})]

    def core_finished(self) -> list[Action]:
        actions = [*self._start_transcript(),
                   events.event("transcript", {"text": " ".join(self.finals), **self._language()}),
                   events.event("transcript-stop")]
        self.state = State.IDLE
        return [*actions, normal()] if self.input_over else actions

    def core_error(self, error: CoreError) -> list[Action]:
        kind = classify(error)
        self.state = State.IDLE
        actions: list[Action] = [events.error(describe(error), ERROR_CODES.get(kind, "internal-error"))]
        if kind is EndKind.SHUTTING_DOWN or self.input_over:
            actions.append(Ending(kind, error.code.name, error.retry_after))
        return actions

    def _start_transcript(self) -> list[Action]:
        if self.started:
            return []
        self.started = True
        return [events.event("transcript-start", self._language())]

    def _language(self) -> dict[str, str]:
        return {"language": self.language} if self.language else {}

    # ---- timers and the runtime --------------------------------------------------------------
    def idle_timeout(self, default: float | None) -> float | None:
        if self.listing.active:
            return self.listing.timeout()
        return None if self.state is State.FINISHING else default

    def idle(self) -> list[Action]:
        if self.listing.active:
            return [events.info(self.catalog.models)] if self.listing.poll() else []
        if self.state is State.STREAMING:
            self.state = State.FINISHING
            self.input_over = True
            return [events.error("no audio for a while; transcribing what was sent, then closing", "timeout"),
                    EndAudio()]
        return [normal("idle")]

    def refused(self, code: Refusal, message: str) -> list[Action]:
        kind = EndKind.SHUTTING_DOWN if code is Refusal.SHUTTING_DOWN else EndKind.BUSY
        return [events.error(message, ERROR_CODES[kind]), Ending(kind, code)]

    def ending(self, reason: EndReason) -> list[Action]:
        """Shutdown or the session limit: an open transcription still gets its transcript."""
        self.input_over = True
        return []

    def rejection(self, payload: dict[str, Any]) -> str | None:
        if payload.get("type") != "error":
            return None
        return str(payload.get("data", {}).get("text"))

    def internal_error(self, error_id: str) -> list[Action]:
        return [events.error(f"internal error (error id {error_id})", "internal-error"),
                Ending(EndKind.INTERNAL, f"internal error (error id {error_id})")]


Handler = Callable[[WyomingCodec, dict[str, Any]], list[Action]]
TRANSITIONS: dict[tuple[State, str], Handler] = {
    (State.IDLE, "transcribe"): WyomingCodec._transcribe,
    (State.READY, "transcribe"): WyomingCodec._transcribe,  # the later one counts
    (State.IDLE, "audio-start"): WyomingCodec._audio_start,
    (State.READY, "audio-start"): WyomingCodec._audio_start,
    (State.STREAMING, "audio-chunk"): WyomingCodec._audio_chunk,
    (State.STREAMING, "audio-stop"): WyomingCodec._audio_stop,
    (State.IDLE, "audio-chunk"): WyomingCodec._audio_out_of_turn,
    (State.READY, "audio-chunk"): WyomingCodec._audio_out_of_turn,
}
ANY_STATE: dict[str, Handler] = {"describe": WyomingCodec._describe, "ping": WyomingCodec._ping}
KNOWN = {"transcribe", "audio-start", "audio-chunk", "audio-stop"}
