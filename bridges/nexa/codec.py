"""nexa dialect (../shared/protocols/nexa.md) as a sans-I/O state machine.

Client: one JSON config (every field optional, documented defaults), binary 16-bit PCM mono,
`{"action": "stop"}` to flush the last finals (the bridge then closes).
Server: `{"type": "partial"|"final", text, confidence, timestamp (unix ms), is_final}` plus
`words` when enable_word_timestamps; `{"type": "error", "error": ...}`. No acknowledgement
is sent for the config: the document's example client prints `result["text"]` for every
message it receives.

The C# example sends one chunk and reads one message: audio that stops for `AUDIO_GAP_FINALIZE`
seconds is finalized (the open utterance becomes a final at once), so a single chunk is
answered with its transcript, long before the 30 s idle timeout. A message may hold up to 4 MiB
of audio (a whole short file), passed to the core in 256 KiB pieces.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from google.protobuf import duration_pb2

from asr.v1 import asr_pb2
from asr_common.contract import MAX_BEAM_SIZE, MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ, PARTIAL_INTERVAL_SECONDS
from asr_common.durations import duration, seconds
from bridges.codec import Action, EndAudio, EndReason, Refusal, SendControl, SendJson, StartStream
from bridges.endings import EndKind, Ending, client_fault, normal
from bridges.faults import CoreError, describe, error_ending
from bridges.fields import (FieldError, check_language, get_bool, get_float, get_int, get_str,
                            parse_json_object)
from bridges.pcm_stream import PcmStreamCodec, PcmWording
from bridges.pcm_stream import StreamState as State

DEFAULT_MODEL = "NexaAI/parakeet-npu"
# Model names that mean "the core's default engine and model" (parakeet is not available here).
DEFAULT_MODEL_ALIASES = frozenset({DEFAULT_MODEL.lower(), "parakeet", "parakeet-npu", "default", ""})
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # one message: 131 s of 16 kHz PCM16 (the C# example sends a file at once)
AUDIO_GAP_FINALIZE = 1.5  # seconds without audio after audio: the open utterance is finalized


@dataclass(frozen=True)
class NexaConfig:
    model: str = DEFAULT_MODEL
    language: str = "en-US"
    sample_rate: int = 16000
    enable_partial_results: bool = True
    enable_word_timestamps: bool = False
    vad_enabled: bool = True
    chunk_duration: float = 0.5
    overlap_duration: float = 0.0
    beam_size: int = 5

    @classmethod
    def parse(cls, text: str) -> "NexaConfig":
        raw = parse_json_object(text, "configuration")
        if "action" in raw:
            raise FieldError("the first message must be the JSON configuration, not an action")
        d = cls()
        config = cls(
            model=get_str(raw, "model", d.model),
            language=check_language(get_str(raw, "language", d.language), "language"),
            sample_rate=get_int(raw, "sample_rate", d.sample_rate, MIN_SAMPLE_RATE_HERTZ, MAX_SAMPLE_RATE_HERTZ),
            enable_partial_results=get_bool(raw, "enable_partial_results", d.enable_partial_results),
            enable_word_timestamps=get_bool(raw, "enable_word_timestamps", d.enable_word_timestamps),
            vad_enabled=get_bool(raw, "vad_enabled", d.vad_enabled),
            chunk_duration=get_float(raw, "chunk_duration", d.chunk_duration, *PARTIAL_INTERVAL_SECONDS),
            overlap_duration=get_float(raw, "overlap_duration", d.overlap_duration, 0.0, 10.0),
            beam_size=get_int(raw, "beam_size", d.beam_size, 1, MAX_BEAM_SIZE),
        )
        if config.overlap_duration >= config.chunk_duration:
            raise FieldError(f"overlap_duration ({config.overlap_duration}) must be smaller than "
                             f"chunk_duration ({config.chunk_duration})")
        return config

    def to_proto(self, engine: str) -> asr_pb2.StreamingConfig:
        model = "" if self.model.lower() in DEFAULT_MODEL_ALIASES else self.model
        return asr_pb2.StreamingConfig(
            engine=engine, model=model, language=self.language,
            encoding=asr_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hertz=self.sample_rate, audio_channel_count=1,
            interim_results=self.enable_partial_results, enable_word_time_offsets=self.enable_word_timestamps,
            vad=asr_pb2.VadConfig(enabled=self.vad_enabled), partial_interval=duration(self.chunk_duration),
            beam_size=self.beam_size, enable_automatic_punctuation=True)


def _seconds(offset: duration_pb2.Duration) -> float:
    """A word time as the document shows it: seconds, to the millisecond."""
    return round(seconds(offset), 3)


class NexaCodec(PcmStreamCodec):
    WORDS = PcmWording(audio="16-bit PCM audio", end='{"action": "stop"}', config="the configuration",
                       config_example="the JSON configuration", unknown="control message", results="results")

    def __init__(self, engine: str = "", clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.config: NexaConfig | None = None
        self._unfinalized = False  # audio sent since the last finalize

    # ---- client frames (after the configuration: bridges/pcm_stream.py) -----------------------
    def _config(self, text: str) -> list[Action]:
        try:
            self.config = NexaConfig.parse(text)
        except FieldError as exc:
            return self._fatal(f"invalid configuration: {exc}", client_fault("invalid configuration"))
        self.state = State.STREAMING  # no acknowledgement: the client does not wait for one
        return [StartStream(self.config.to_proto(self.engine))]

    def _is_end(self, message: dict[str, Any]) -> bool:
        return message.get("action") == "stop"  # extra fields are allowed

    def received_bytes(self, data: bytes) -> list[Action]:
        actions = super().received_bytes(data)
        self._unfinalized = self._unfinalized or any(not isinstance(a, SendJson) for a in actions)
        return actions

    def _fatal(self, text: str, ending: Ending) -> list[Action]:
        self.state = State.DONE
        return [self._error(text), ending]

    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        if response.WhichOneof("response") != "result":
            return []
        result = response.result
        text = result.text.strip()
        if not text:
            return []
        payload: dict[str, Any] = {"type": "final" if result.is_final else "partial", "text": text,
                                   "confidence": round(float(result.confidence), 4),
                                   "timestamp": int(self.clock() * 1000), "is_final": result.is_final}
        if self.config is not None and self.config.enable_word_timestamps:
            payload["words"] = [{"word": w.word.strip(), "start": _seconds(w.start_offset),
                                 "end": _seconds(w.end_offset), "confidence": round(float(w.confidence), 4)}
                                for w in result.words]
        return [SendJson(payload)]

    def core_error(self, error: CoreError) -> list[Action]:
        self.state = State.DONE
        # The client's mistake (its configuration or audio) is 1008; busy/down is 1013 (bridges/faults.py).
        return [self._error(describe(error)), error_ending(error)]

    def core_finished(self) -> list[Action]:
        self.state = State.DONE
        return [normal()]

    def idle(self) -> list[Action]:
        if self._gap_pending():  # the client stopped sending: what it sent is transcribed now
            self._unfinalized = False
            return [SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))]
        if self.state is State.STREAMING:
            self.state = State.ENDING
            return [self._error("no audio received for a while; finishing the stream"), EndAudio()]
        if self.state is State.AWAIT_CONFIG:
            self.state = State.DONE
            return [self._error("no configuration received; send the JSON configuration after connecting"),
                    client_fault("idle timeout")]
        return []

    def idle_timeout(self, default: float | None) -> float | None:
        if self._gap_pending():
            return AUDIO_GAP_FINALIZE if default is None else min(AUDIO_GAP_FINALIZE, default)
        return None if self.state in (State.ENDING, State.DONE) else default

    def _gap_pending(self) -> bool:
        return self._unfinalized and self.state is State.STREAMING

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [self._error(f"message of {size} bytes exceeds the {limit}-byte limit ({limit / 32000:.0f} s of "
                            "16 kHz audio); send longer audio in several messages, e.g. chunks of 0.3-0.5 s "
                            "(this one was dropped)")]

    def refused(self, code: Refusal, message: str) -> list[Action]:
        return [self._error(message), Ending(EndKind.BUSY, code)]  # WebSocket 1013 for every refusal

    def ending(self, reason: EndReason) -> list[Action]:
        """Shutdown or the session limit: say so, then the runtime flushes the finals and closes."""
        if self.state is not State.STREAMING:
            return []
        self.state = State.ENDING
        if reason is EndReason.MAX_DURATION:
            return [self._error("maximum session duration reached; the last results follow, then the "
                                "connection closes (1008). Reconnect to continue")]
        return [self._error("the server is shutting down; the last results follow, then the connection "
                            "closes (1001). Reconnect to continue")]

    @staticmethod
    def _error(message: str) -> SendJson:
        return SendJson({"type": "error", "error": message})
