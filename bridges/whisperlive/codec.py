"""The `whisperlive` dialect (shared/protocols/whisperlive*.md): one connection, no I/O.

    options --(JSON options)--> starting --session_started--> ready --END_OF_AUDIO--> ending
       |                            |
       +-- server full: WAIT, close +-- core failed: ERROR (or WAIT for RESOURCE_EXHAUSTED), close

Every message carries the client's uid. Status messages (WAIT/ERROR/WARNING) never share a
frame with segments, because the client dispatches on the `status` key first.

Like the reference server: the options frame may come as text or binary; audio may be float32,
int16 or uint8; there is no idle timeout once the session runs (a paused push-to-talk user keeps
it; `max_connection_time` ends it: the server's is the runtime's --max-session-seconds timer,
which calls `ending(MAX_DURATION)`, and a client's lower one is timed here); a refusal by the runtime (shutdown; the connection backstop
is refused before the upgrade with HTTP 503) is answered after the options frame, when the uid is
known (ERROR, or WAIT for a codec-level `refused(Refusal.MAX_CONNECTIONS)`); `use_vad: false` still
commits segments, at pauses and by length (bridges/whisperlive/pauses.py).
"""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from asr.v1 import asr_pb2
from bridges.codec import (Action, Codec, EndAudio, EndReason, Refusal, SendAudio, SendControl, SendJson,
                           StartStream)
from bridges.endings import (WS_MESSAGE_TOO_BIG, WS_UNSUPPORTED_DATA, EndKind, Ending, client_fault, normal,
                             shutting_down)
from bridges.faults import CoreError, classify, error_ending
from bridges.hygiene import CLIENT_ID_RULE, escaped, fit_session_id, valid_client_id
from bridges.fields import FieldError, parse_json
from asr_common.contract import MAX_HOTWORDS, MAX_PROMPT_CHARS
from asr_common.durations import duration
from .options import Options, OptionsError, ServerDefaults, choose_model, parse_options
from .pauses import PauseRules, PauseSegmenter, to_float32, uint8_to_int16
from .segments import SegmentList
from .slots import Slots

log = logging.getLogger(__name__)

END_OF_AUDIO = b"END_OF_AUDIO"
BACKEND = "faster_whisper"
LANGUAGE_CONFIDENCE = 0.5  # below this the detected language is not announced


@dataclass(frozen=True)
class WhisperLiveSettings:
    max_clients: int = 4
    max_connection_time: float = 600.0
    engine: str = "whisper"
    # No audio for this long while a partial is open: the client has stopped sending (file mode
    # waits 15 s for the text to settle), so finalize the utterance instead of leaving it open.
    audio_gap_finalize: float = 1.5
    defaults: ServerDefaults = ServerDefaults()  # --model, --language, --use-vad/--no-vad
    pauses: PauseRules = PauseRules()  # segmenting when VAD is off
    options_timeout: float = 30.0  # seconds to wait for the options frame


class State(enum.Enum):
    OPTIONS = "options"
    STARTING = "starting"
    READY = "ready"
    ENDING = "ending"
    CLOSED = "closed"


class WhisperLiveCodec(Codec):
    def __init__(
        self,
        settings: WhisperLiveSettings = WhisperLiveSettings(),
        *,
        slots: Slots | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.slots = slots
        self.clock = clock
        self.state = State.OPTIONS
        self.uid = ""
        self.options: Options | None = None
        self.segments = SegmentList()
        self.admitted_at: float | None = None
        self._slot_key = f"wl@{id(self):x}"
        self._holds_slot = False
        self._language_sent = False
        self._last_audio = clock()
        self._finalize_sent = False
        self._refusal: tuple[Refusal, str] | None = None
        self._pauses: PauseSegmenter | None = None  # set when VAD is off
        self._max_time = settings.max_connection_time  # the client may ask for less

    # ---- helpers -----------------------------------------------------------------------------
    def _send(self, **fields: Any) -> SendJson:
        return SendJson({"uid": self.uid, **fields})

    def _status(self, status: str, message: Any) -> SendJson:
        return self._send(status=status, message=message)

    def _close_with(self, *actions: Action, ending: Ending = normal()) -> list[Action]:
        self.state = State.CLOSED
        return [*actions, ending]

    def _error(self, message: str, ending: Ending | None = None) -> list[Action]:
        """ERROR, then the end (normal unless `ending` says otherwise; its reason is the message)."""
        log.info("whisperlive %s: %s", escaped(self.uid or "-"), escaped(message, 300))
        ending = ending or normal()
        return self._close_with(self._status("ERROR", message),
                                ending=Ending(ending.kind, message[:120], ending.retry_after, ending.ws_code))

    def _disconnect(self) -> list[Action]:
        log.info("whisperlive %s: max connection time reached", self.uid)
        return self._close_with(self._send(message="DISCONNECT"), ending=normal("max connection time"))

    def _over_time(self) -> list[Action] | None:
        """The client's own, lower max_connection_time (the server's is the runtime's timer)."""
        if self.admitted_at is None or self.state is State.CLOSED or not self._own_limit():
            return None
        if self.clock() - self.admitted_at < self._max_time:
            return None
        return self._disconnect()

    def _own_limit(self) -> bool:
        return self._max_time < self.settings.max_connection_time

    # ---- connection events -------------------------------------------------------------------
    def closed(self) -> None:
        self.state = State.CLOSED
        if self._holds_slot and self.slots is not None:
            self.slots.release(self._slot_key)
            self._holds_slot = False

    def _gap_pending(self) -> bool:
        return self.state is State.READY and not self._finalize_sent and self.segments.has_open_partial

    def _finalize_gap(self) -> list[Action]:
        self._finalize_sent = True
        return [SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))]

    def idle_timeout(self, default: float | None) -> float | None:
        # While a partial is open, a short "no audio" timer finalizes it (see audio_gap_finalize).
        if self.state is State.OPTIONS:
            return self.settings.options_timeout
        timers = [self.settings.audio_gap_finalize] if self._gap_pending() else []
        if self.admitted_at is not None and self._own_limit():
            # the client's own, lower max_connection_time (the runtime times the server's)
            timers.append(max(self.admitted_at + self._max_time - self.clock(), 0.0))
        return min(timers, default=None)  # the reference has no idle timeout

    def idle(self) -> list[Action]:
        if (over := self._over_time()) is not None:
            return over
        if self._gap_pending():
            return self._finalize_gap()
        if self.state is State.OPTIONS:
            return self._error("No options frame received; send the JSON options first. Reconnect to continue")
        return []

    def ending(self, reason: EndReason) -> list[Action]:
        """max_duration: DISCONNECT and close now; shutdown: DISCONNECT, then the last segments."""
        if self.state is State.CLOSED:
            return []
        if reason is EndReason.MAX_DURATION:
            return self._disconnect()
        if self.state is State.OPTIONS:
            return self._close_with(ending=shutting_down("server shutting down"))
        self.state = State.ENDING
        return [self._send(message="DISCONNECT")]

    def rejection(self, payload: dict[str, Any]) -> str | None:
        status, message = payload.get("status"), str(payload.get("message"))
        if status == "ERROR" or (status == "WARNING" and message.startswith(("Ignored", "Dropped"))):
            return message
        return None  # a WARNING about a substituted model or option is not a refusal

    def refused(self, code: Refusal, message: str) -> list[Action]:
        # The client drops messages without its uid, which arrives with the options: answer then.
        self._refusal = (code, message)
        return []

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return self._error(f"Frame of {size} bytes exceeds the {limit}-byte limit; send 4096-sample frames",
                           client_fault("", WS_MESSAGE_TOO_BIG))

    # ---- client frames -----------------------------------------------------------------------
    def received_text(self, text: str) -> list[Action]:
        if self.state is State.OPTIONS:
            return self._options(text)
        if (over := self._over_time()) is not None:
            return over
        if text == END_OF_AUDIO.decode():
            return self._end_of_audio()
        return [self._status("WARNING", "Ignored a text frame: after the options, send audio as binary "
                                        "frames and END_OF_AUDIO to finish")]

    def _options(self, text: str) -> list[Action]:
        try:
            raw = parse_json(text, "Options frame")
        except FieldError as exc:
            return self._error(str(exc), client_fault("", WS_UNSUPPORTED_DATA))
        if isinstance(raw, dict) and isinstance(raw.get("uid"), str):
            if not valid_client_id(raw["uid"]):
                return self._error(f"Option 'uid' must be {CLIENT_ID_RULE}", client_fault(""))
            self.uid = raw["uid"]
        try:
            options = parse_options(raw, self.settings.defaults)
        except OptionsError as exc:
            return self._error(str(exc), client_fault("", WS_UNSUPPORTED_DATA))
        self.options = options
        now = self.clock()
        if self._refusal is not None:
            return self._refuse(*self._refusal)
        if self.slots is not None:
            if not self.slots.acquire(self._slot_key, now):
                minutes = self.slots.soonest_free(now, self.settings.max_connection_time) / 60
                log.info("whisperlive %s: server full, WAIT %.1f min", self.uid, minutes)
                return self._close_with(self._status("WAIT", round(minutes, 2)), ending=normal("server full"))
            self._holds_slot = True
        self.admitted_at = now
        self._last_audio = now
        self.segments = SegmentList(last_n=options.send_last_n_segments, word_timestamps=options.word_timestamps,
                                    speakers=options.diarization)
        self._pauses = None if options.use_vad else PauseSegmenter(self.settings.pauses)
        choice = choose_model(options.model, options.language, options.task)
        warnings = [*options.warnings, *self._limit_warnings(options), *([choice.warning] if choice.warning else [])]
        self.state = State.STARTING
        return [*(self._status("WARNING", w) for w in warnings),
                StartStream(self._streaming_config(options, choice.model))]

    def _limit_warnings(self, options: Options) -> list[str]:
        """The client's max_clients and max_connection_time: the server's flags decide; a lower
        connection time is honoured for this session."""
        warnings, server = [], self.settings
        if options.max_clients is not None and options.max_clients != server.max_clients:
            warnings.append(f"max_clients is this server's setting (--max-clients {server.max_clients}); the "
                            f"client's {options.max_clients} is not used")
        if options.max_connection_time is not None:
            if options.max_connection_time > server.max_connection_time:
                warnings.append(f"max_connection_time {options.max_connection_time:g} s is above this server's "
                                f"limit; DISCONNECT comes after {server.max_connection_time:g} s")
            self._max_time = min(options.max_connection_time, server.max_connection_time)
        return warnings

    def _refuse(self, code: Refusal, message: str) -> list[Action]:
        if code is Refusal.MAX_CONNECTIONS:
            minutes = 0.0
            if self.slots is not None:
                minutes = self.slots.soonest_free(self.clock(), self.settings.max_connection_time) / 60
            return self._close_with(self._status("WAIT", round(minutes, 2) or 1.0), ending=normal("server full"))
        if code is Refusal.SHUTTING_DOWN:
            return self._error("Server is shutting down; reconnect in a few seconds", shutting_down())
        return self._error(f"Connection refused: {message}", Ending(EndKind.BUSY))

    def _streaming_config(self, options: Options, model: str) -> asr_pb2.StreamingConfig:
        config = asr_pb2.StreamingConfig(
            engine=self.settings.engine,
            model=model,
            language=options.language or "",
            task=asr_pb2.TASK_TRANSLATE if options.task == "translate" else asr_pb2.TASK_TRANSCRIBE,
            encoding=(asr_pb2.AUDIO_ENCODING_FLOAT32 if options.audio_format == "float32"
                      else asr_pb2.AUDIO_ENCODING_LINEAR16),  # uint8 is widened to int16 here
            sample_rate_hertz=16000,
            audio_channel_count=1,
            interim_results=True,
            enable_word_time_offsets=options.word_timestamps,
            enable_automatic_punctuation=True,
            session_id=fit_session_id(options.uid),
            prompt=(options.initial_prompt or "")[:MAX_PROMPT_CHARS],
            hotwords=list(options.hotwords[:MAX_HOTWORDS]),
            diarization=asr_pb2.DiarizationConfig(enable=True, max_speakers=options.max_speakers)
            if options.diarization else None,
        )
        config.vad.enabled = options.use_vad
        if options.vad.threshold is not None:
            config.vad.threshold = options.vad.threshold
        if options.vad.min_silence_seconds is not None:
            config.vad.min_silence_duration.CopyFrom(duration(options.vad.min_silence_seconds))
        return config

    def received_bytes(self, data: bytes) -> list[Action]:
        if self.state is State.OPTIONS:
            try:  # the reference accepts the options frame as a binary message too
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = ""
            if text.lstrip().startswith("{"):
                return self._options(text)
            return self._error("Audio arrived before the options; send the JSON options as the first frame",
                               client_fault(""))
        if (over := self._over_time()) is not None:
            return over
        if data == END_OF_AUDIO:  # exact comparison: 12 bytes would also pass as 3 float32 samples
            return self._end_of_audio()
        if self.state is State.CLOSED:
            return []
        if self.state is State.ENDING:
            return [self._status("WARNING", "Dropped an audio frame sent after END_OF_AUDIO")]
        if not data:
            return [self._status("WARNING", "Ignored an empty audio frame")]
        assert self.options is not None
        if len(data) % self.options.sample_bytes:
            return [self._status("WARNING", f"Dropped an audio frame of {len(data)} bytes: {self.options.audio_format} "
                                            f"audio needs a multiple of {self.options.sample_bytes} bytes")]
        self._last_audio = self.clock()
        self._finalize_sent = False
        actions: list[Action] = [SendAudio(uint8_to_int16(data) if self.options.audio_format == "uint8" else data)]
        if self._pauses is not None and self._pauses.feed(to_float32(data, self.options.audio_format)):
            actions.append(SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance())))
        return actions

    def _end_of_audio(self) -> list[Action]:
        if self.state in (State.STARTING, State.READY):
            self.state = State.ENDING
            return [EndAudio()]
        return []

    # ---- core events -------------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        if self.state is State.CLOSED or self.options is None:  # no stream before the options
            return []
        kind = response.WhichOneof("response")
        if kind == "session_started":
            if self.state is State.STARTING:
                self.state = State.READY
            return [self._send(message="SERVER_READY", backend=BACKEND)]
        if kind == "result":
            return self._result(response.result)
        return []

    def _result(self, result: asr_pb2.RecognitionResult) -> list[Action]:
        actions: list[Action] = []
        assert self.options is not None
        if (self.options.language is None and not self._language_sent and result.language
                and result.language_probability >= LANGUAGE_CONFIDENCE):
            self._language_sent = True
            actions.append(self._send(language=result.language, language_prob=round(result.language_probability, 3)))
        if result.is_final:
            self._finalize_sent = False
        segments = self.segments.apply(result)
        if segments is not None:
            actions.append(self._send(segments=segments))
        return actions

    def core_error(self, error: CoreError) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        kind = classify(error)
        if kind is EndKind.BUSY:  # the document's WAIT, in minutes
            minutes = round((error.retry_after or 60.0) / 60, 2)
            return self._close_with(self._status("WAIT", minutes), ending=normal("server busy"))
        if kind in (EndKind.UNAVAILABLE, EndKind.SHUTTING_DOWN):  # "the recognition service is unavailable; retry in N s"
            return self._error(error.message[:1].upper() + error.message[1:], error_ending(error))
        return self._error(f"Transcription failed ({error.code.name}): {error.message}", error_ending(error))

    def core_finished(self) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        return self._close_with(ending=normal("end of audio"))
