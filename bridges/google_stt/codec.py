"""google-stt dialect (../shared/protocols/google-stt.md) as a sans-I/O state machine.

Client: one JSON config, then binary LINEAR16 frames; the end of audio is either
`{"type": "end"}` (alias `{"action": "stop"}`), or simply no audio for `end_after_silence`
seconds (the document's own client just stops sending and waits for `complete`). That is 10 s
by default, longer than a speaker's pause (a client that sends only while someone speaks keeps
its session through one), and the metadata acknowledgement says it. Audio that stops for
`AUDIO_GAP_FINALIZE` seconds is finalized, so the transcript of what was said comes at once.
Server: `metadata` (status ready, echoed config) once the core accepted the session,
`transcript` per non-empty partial/final, `error` with `detail`, `complete` at the end: also
after an error that ends the session, because the document's client waits for `complete`.
With ENABLE_AUTOMATIC_PUNCTUATION=false (`--no-automatic-punctuation`) the transcripts carry no
punctuation: Whisper always punctuates, so the bridge strips it.
"""
from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

from asr.v1 import asr_pb2
from asr_common.contract import MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ
from bridges.codec import Action, EndAudio, Refusal, SendControl, SendJson, StartStream
from bridges.endings import EndKind, Ending, client_fault, normal
from bridges.faults import CoreError, describe, error_ending
from bridges.fields import FieldError, check_language, get_int, get_str, parse_json_object
from bridges.pcm_stream import PcmStreamCodec, PcmWording
from bridges.pcm_stream import StreamState as State

SUPPORTED_ENCODINGS = ("LINEAR16",)
END_MESSAGES = ({"type": "end"}, {"action": "stop"})
COMPLETE = {"type": "complete"}
DEFAULT_ENGINES = "google,whisper"  # Google when the core has credentials for it, else Whisper
# Seconds without audio that end the stream (docs/bridges.md: why 10). Google's own streaming API
# ends a stream after about 10 s without audio, which is what the document's server, a wrapper of
# it, does to a client that stops sending.
END_AFTER_SILENCE = 10.0
AUDIO_GAP_FINALIZE = 2.0  # seconds without audio: what was said is finalized (the stream goes on)
_INNER_MARK = re.compile(r"(?<=\w)['’\-](?=\w)")  # don't, e-mail: kept


def strip_punctuation(text: str) -> str:
    """Text without punctuation marks (any script), keeping apostrophes and hyphens inside words."""
    kept = {m.start() for m in _INNER_MARK.finditer(text)}
    out = "".join(" " if unicodedata.category(c).startswith("P") and i not in kept else c
                  for i, c in enumerate(text))
    return " ".join(out.split())


@dataclass(frozen=True)
class GoogleSttOptions:
    default_language: str = "ar-EG"
    default_sample_rate: int = 16000
    interim_results: bool = True
    automatic_punctuation: bool = True
    end_after_silence: float = END_AFTER_SILENCE
    engine: str = ""  # "" = the core's default


class GoogleSttCodec(PcmStreamCodec):
    WORDS = PcmWording(audio="LINEAR16 audio", end='{"type": "end"}', config="the config",
                       config_example='the JSON config ({"language_code": ..., "sample_rate_hertz": ..., '
                                      '"encoding": "LINEAR16"})',
                       unknown="message", results="transcripts")

    def __init__(self, options: GoogleSttOptions | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.options = options or GoogleSttOptions()
        self.clock = clock
        self.echo: dict[str, Any] = {}
        self._last_audio = clock()
        self._unfinalized = False  # audio since the last finalize

    def received_bytes(self, data: bytes) -> list[Action]:
        actions = super().received_bytes(data)
        if any(not isinstance(a, SendJson) for a in actions):
            self._last_audio, self._unfinalized = self.clock(), True
        return actions

    # ---- client frames (after the config: bridges/pcm_stream.py) ------------------------------
    def _is_end(self, message: dict[str, Any]) -> bool:
        return message in END_MESSAGES

    def _config(self, text: str) -> list[Action]:
        try:
            raw = parse_json_object(text, "config")
            if raw in END_MESSAGES:
                raise FieldError("end of audio received before the config")
            language = check_language(get_str(raw, "language_code", self.options.default_language), "language_code")
            rate = get_int(raw, "sample_rate_hertz", self.options.default_sample_rate,
                           MIN_SAMPLE_RATE_HERTZ, MAX_SAMPLE_RATE_HERTZ)
            encoding = get_str(raw, "encoding", "LINEAR16")
            if encoding.upper() not in SUPPORTED_ENCODINGS:
                raise FieldError(f"unsupported encoding {encoding!r}; only LINEAR16 (16-bit signed little-endian "
                                 "PCM, mono) is supported")
        except FieldError as exc:
            return self._fatal(f"invalid config: {exc}", client_fault("invalid config"))
        self.echo = {"language_code": language, "sample_rate_hertz": rate, "encoding": encoding.upper()}
        # `--engine`, else Google when available; the core picks the model for the language.
        config = asr_pb2.StreamingConfig(
            engine=self.options.engine or DEFAULT_ENGINES, language=language, encoding=asr_pb2.AUDIO_ENCODING_LINEAR16,
            sample_rate_hertz=rate, audio_channel_count=1, interim_results=self.options.interim_results,
            enable_automatic_punctuation=self.options.automatic_punctuation)
        self.state = State.STARTING
        return [StartStream(config)]

    # ---- core events ----------------------------------------------------------------------
    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        kind = response.WhichOneof("response")
        if kind == "session_started":
            if self.state is State.STARTING:
                self.state = State.STREAMING
            return [SendJson({"type": "metadata", "status": "ready", **self.echo,
                              # how the stream ends: the document defines no end message
                              "end_after_silence_seconds": self.options.end_after_silence,
                              "end_message": END_MESSAGES[0]})]
        if kind == "result":
            result = response.result
            text = result.text.strip()
            if not self.options.automatic_punctuation:
                text = strip_punctuation(text)
            if not text:
                return []
            return [SendJson({"type": "transcript", "text": text, "is_final": result.is_final,
                              "confidence": round(float(result.confidence), 4)})]
        return []

    def core_error(self, error: CoreError) -> list[Action]:
        return self._fatal(describe(error), error_ending(error))

    def core_finished(self) -> list[Action]:
        self.state = State.DONE
        return [SendJson(COMPLETE), normal()]

    # ---- runtime events -------------------------------------------------------------------
    def idle_timeout(self, default: float | None) -> float | None:
        if self.state is State.STREAMING and self.seen_audio:
            end = max(self._last_audio + self.options.end_after_silence - self.clock(), 0.0)
            return min(end, AUDIO_GAP_FINALIZE) if self._unfinalized else end
        if self.state in (State.ENDING, State.DONE):
            return None
        return default

    def idle(self) -> list[Action]:
        if self.state is State.STREAMING and self.seen_audio:
            if self.clock() - self._last_audio >= self.options.end_after_silence:
                # No audio for a while: that is the end of this client's stream.
                self.state = State.ENDING
                return [EndAudio()]
            if self._unfinalized:  # a pause in sending: what was said is transcribed now
                self._unfinalized = False
                return [SendControl(asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))]
            return []
        if self.state is State.STREAMING:
            self.state = State.ENDING  # no audio at all within the ordinary idle timeout
            return [EndAudio()]
        if self.state in (State.AWAIT_CONFIG, State.STARTING):
            return self._fatal("no config or audio received in time; send the JSON config right after connecting",
                               client_fault("idle timeout"))
        return []

    def frame_too_large(self, size: int, limit: int) -> list[Action]:
        return [self._error(f"message of {size} bytes exceeds the {limit}-byte limit; send audio in chunks "
                            "of at most 16384 bytes (4096 recommended); this frame was dropped")]

    def refused(self, code: Refusal, message: str) -> list[Action]:
        return self._fatal(message, Ending(EndKind.BUSY, code))  # WebSocket 1013 for every refusal

    def _fatal(self, detail: str, ending: Ending) -> list[Action]:
        """An error that ends the session: error, complete (the client waits for it), the end."""
        self.state = State.DONE
        return [self._error(detail), SendJson(COMPLETE), ending]

    @staticmethod
    def _error(detail: str) -> SendJson:
        return SendJson({"type": "error", "detail": detail})
