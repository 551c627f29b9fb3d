"""Vosk's WebSocket server protocol (alphacep/vosk-server websocket/asr_server.py and its example
clients test.py, test_words.py, test_alternatives.py, test_microphone.py) as a sans-I/O codec.

Client: an optional first text message `{"config": {"sample_rate", "words", "max_alternatives",
"phrase_list"}}`, then binary 16-bit PCM mono (8 kHz unless the config says otherwise), and
`{"eof" : 1}` (any spacing) to end, or `{"reset" : 1}` to close the current utterance.

Replies, one per client message as asr_server.py sends them (its clients read one message after
each frame): for an audio frame the oldest final not delivered yet, as a result
(`{"result": [{"conf", "end", "start", "word"}], "text"}`, or `{"alternatives": [...]}` with
`max_alternatives`), else `{"partial": ...}` with the newest partial text of the open
utterance; for `{"reset" : 1}` everything not delivered yet as one result (the open utterance's
current text included; its later final is not sent again); for `{"eof" : 1}`, once the core has
finished, everything not delivered as one result, then close 1000. Errors (the reference has
none; its server just fails): `{"error": ...}`; a bad config also closes (1008).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from asr.v1 import asr_pb2
from asr_common.contract import MAX_HOTWORDS, MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ
from asr_common.durations import seconds
from bridges.codec import Action, Codec, EndAudio, EndReason, SendControl, SendJson, StartStream, send_audio
from bridges.endings import client_fault, normal
from bridges.faults import CoreError, describe, error_ending
from bridges.fields import FieldError, get_int, parse_json

MAX_ALTERNATIVES = 20  # test_alternatives.py asks for 20; we have one hypothesis to give
EOF, RESET = {"eof": 1}, {"reset": 1}


class State(enum.Enum):
    OPEN = "open"  # no audio yet: a config may still come
    STREAMING = "streaming"  # the core stream is open
    ENDING = "ending"  # eof received: waiting for the core's last results
    DONE = "done"


@dataclass(frozen=True)
class VoskConfig:
    sample_rate: int = 8000
    words: bool = True  # asr_server.py's default (VOSK_SHOW_WORDS)
    max_alternatives: int = 0
    phrase_list: tuple[str, ...] = ()

    def updated(self, raw: dict[str, Any]) -> "VoskConfig":
        """This config with the keys of a `{"config": {...}}` message applied (asr_server.py's rules)."""
        if "model" in raw:
            raise FieldError("model is not supported: it names a model directory on the Vosk server; the "
                             "recognition service picks its own model (leave model out)")
        rate = raw.get("sample_rate", self.sample_rate)
        if isinstance(rate, float) and rate.is_integer():
            rate = int(rate)  # asr_server.py reads float(sample_rate)
        words = raw.get("words", self.words)
        if not isinstance(words, (bool, int)):
            raise FieldError(f"words must be 0 or 1, got {words!r}")
        phrases = raw.get("phrase_list", list(self.phrase_list))
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise FieldError("phrase_list must be a list of strings")
        if len(phrases) > MAX_HOTWORDS:
            raise FieldError(f"phrase_list holds {len(phrases)} phrases; at most {MAX_HOTWORDS}")
        return VoskConfig(get_int({"sample_rate": rate}, "sample_rate", 8000, MIN_SAMPLE_RATE_HERTZ,
                                  MAX_SAMPLE_RATE_HERTZ),
                          bool(words), get_int(raw, "max_alternatives", self.max_alternatives, 0, MAX_ALTERNATIVES),
                          tuple(phrases))

    def to_proto(self, engine: str) -> asr_pb2.StreamingConfig:
        return asr_pb2.StreamingConfig(
            engine=engine, encoding=asr_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hertz=self.sample_rate,
            audio_channel_count=1, interim_results=True, enable_word_time_offsets=True,
            hotwords=list(self.phrase_list), enable_automatic_punctuation=False)


def words_of(result: asr_pb2.RecognitionResult, confidence: bool = True) -> list[dict[str, Any]]:
    """Vosk's word objects: conf (0..1), end and start (seconds), word."""
    listed = []
    for w in result.words:
        item: dict[str, Any] = {"conf": round(float(w.confidence), 6)} if confidence else {}
        item.update(end=round(seconds(w.end_offset), 6), start=round(seconds(w.start_offset), 6), word=w.word.strip())
        listed.append(item)
    return listed


class VoskCodec(Codec):
    def __init__(self, engine: str = "", config: VoskConfig | None = None) -> None:
        self.engine = engine
        self.config = config or VoskConfig()
        self.state = State.OPEN
        self.finals: list[asr_pb2.RecognitionResult] = []  # not delivered yet
        self.partial: asr_pb2.RecognitionResult | None = None  # the open utterance's newest partial
        self.skip_segment = -1  # a segment delivered by a reset: its final is not sent again

    # ---- client messages ---------------------------------------------------------------------
    def received_text(self, text: str) -> list[Action]:
        try:
            message = parse_json(text, "message")
        except FieldError as exc:
            return [self._error(f"{exc}; send binary 16-bit PCM, {{\"eof\" : 1}} or {{\"reset\" : 1}}")]
        if isinstance(message, dict) and "config" in message:
            return self._config(message["config"])
        if message == EOF:
            return self._eof()
        if message == RESET:
            return self._reset()
        return [self._error(f"unknown message {text[:80]!r}; send binary 16-bit PCM, {{\"eof\" : 1}} or "
                            "{\"reset\" : 1}")]

    def _config(self, raw: Any) -> list[Action]:
        if self.state is not State.OPEN:
            return [self._error("config after the audio started is ignored; send it first (as asr_server.py, "
                                "which applies it only to a new recognizer)")]
        try:
            if not isinstance(raw, dict):
                raise FieldError("config must be a JSON object")
            self.config = self.config.updated(raw)
        except FieldError as exc:
            self.state = State.DONE
            return [self._error(f"invalid config: {exc}"), client_fault("invalid config")]
        return []  # asr_server.py answers no config (`continue`)

    def received_bytes(self, data: bytes) -> list[Action]:
        if self.state in (State.ENDING, State.DONE):
            return [self._error("audio after {\"eof\" : 1} was dropped; connect again for a new stream")]
        if not data or len(data) % 2:
            return [self._error(f"audio frame of {len(data)} bytes is not a whole number of 16-bit samples; "
                                "send 16-bit PCM mono (this frame was dropped)")]
        actions: list[Action] = self._start() + send_audio(data)
        return [*actions, self._reply()]

    def _start(self) -> list[Action]:
        if self.state is not State.OPEN:
            return []
        self.state = State.STREAMING
        return [StartStream(self.config.to_proto(self.engine))]

    def _eof(self) -> list[Action]:
        if self.state is State.OPEN:
            self.state = State.DONE
            return [self._result([]), normal()]
        if self.state is not State.STREAMING:
            return [self._error("eof already received; the final result is on its way")]
        self.state = State.ENDING
        return [EndAudio()]

    def _reset(self) -> list[Action]:
        """Everything not delivered, the open utterance's current text included, as one result."""
        results = self._take_all()
        if self.state is State.STREAMING and self.partial is not None:
            self.skip_segment = self.partial.segment_id
            results.append(self.partial)
            self.partial = None
            return [SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance())), self._result(results)]
        return [self._result(results)]

    # ---- the core ----------------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        if response.WhichOneof("response") != "result":
            return []
        result = response.result
        if result.segment_id <= self.skip_segment:
            return []
        if result.is_final:
            if result.text.strip():
                self.finals.append(result)
            if self.partial is not None and self.partial.segment_id <= result.segment_id:
                self.partial = None
        else:
            self.partial = result
        return []  # delivered as replies to the client's next messages

    def core_finished(self) -> list[Action]:
        if self.state is State.DONE:
            return [normal()]
        self.state = State.DONE
        return [self._result(self._take_all()), normal()]

    def core_error(self, error: CoreError) -> list[Action]:
        self.state = State.DONE
        return [self._error(describe(error)), error_ending(error)]

    # ---- replies -----------------------------------------------------------------------------
    def _reply(self) -> SendJson:
        if self.finals:
            return self._result([self.finals.pop(0)])
        text = self.partial.text.strip() if self.partial is not None else ""
        payload: dict[str, Any] = {"partial": text}
        if self.config.words and self.partial is not None and self.partial.words:
            payload = {"partial": text, "partial_result": words_of(self.partial)}
        return SendJson(payload)

    def _take_all(self) -> list[asr_pb2.RecognitionResult]:
        results, self.finals = self.finals, []
        return results

    def _result(self, results: list[asr_pb2.RecognitionResult]) -> SendJson:
        """One Vosk result for these core results (joined), in the config's shape."""
        text = " ".join(r.text.strip() for r in results if r.text.strip())
        words = [w for r in results for w in words_of(r, confidence=not self.config.max_alternatives)]
        if self.config.max_alternatives:
            confidence = min((float(r.confidence) for r in results), default=0.0)
            alternative: dict[str, Any] = {"confidence": round(confidence, 6)}
            if self.config.words:
                alternative["result"] = words
            alternative["text"] = text
            return SendJson({"alternatives": [alternative]})
        return SendJson({"result": words, "text": text} if self.config.words and words else {"text": text})

    @staticmethod
    def _error(message: str) -> SendJson:
        return SendJson({"error": message})

    def rejection(self, payload: dict[str, Any]) -> str | None:
        return str(payload["error"]) if "error" in payload else None

    # ---- timers and the runtime --------------------------------------------------------------
    def idle(self) -> list[Action]:
        if self.state is State.STREAMING:
            self.state = State.ENDING
            return [self._error("no message for a while; the final result follows, then the connection closes"),
                    EndAudio()]
        if self.state is State.OPEN:
            self.state = State.DONE
            return [self._error("no audio received; connect again and send audio"), client_fault("idle timeout")]
        return []

    def idle_timeout(self, default: float | None) -> float | None:
        return None if self.state in (State.ENDING, State.DONE) else default

    def ending(self, reason: EndReason) -> list[Action]:
        if self.state is State.STREAMING:
            self.state = State.ENDING
        return []

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [self._error(f"message of {size} bytes exceeds the {limit}-byte limit; send audio in frames of "
                            "0.1-0.5 s (this one was dropped)")]
