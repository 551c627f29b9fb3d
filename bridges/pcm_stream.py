"""The shape google_stt and nexa share: one JSON config, then binary 16-bit PCM mono, then an
end-of-audio message; the core's last results, then the end.

`PcmStreamCodec` implements the frames after the config once; a dialect gives its config
parser (`_config`), what ends the audio (`_is_end`), its error shape (`_error`, `_fatal`) and
its words (`PcmWording`).
"""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Any

from bridges.codec import Action, Codec, EndAudio, SendJson, send_audio
from bridges.endings import Ending, client_fault
from bridges.fields import FieldError, parse_json_object


class StreamState(enum.Enum):
    AWAIT_CONFIG = "await_config"
    STARTING = "starting"  # config sent to the core, waiting for SessionStarted
    STREAMING = "streaming"
    ENDING = "ending"  # end of audio sent, waiting for the last results
    DONE = "done"


OPEN = (StreamState.STARTING, StreamState.STREAMING)


@dataclass(frozen=True)
class PcmWording:
    """The dialect's words in its error messages."""

    audio: str  # the audio it expects, e.g. "LINEAR16 audio"
    end: str  # its end-of-audio message, e.g. '{"type": "end"}'
    config: str  # its first message, e.g. "the config"
    config_example: str  # how to send it, e.g. 'the JSON config ({"language_code": ...})'
    unknown: str  # what an unknown text message is called, e.g. "message"
    results: str  # what is still to come after the end, e.g. "transcripts"


class PcmStreamCodec(Codec):
    WORDS: PcmWording

    def __init__(self) -> None:
        self.state = StreamState.AWAIT_CONFIG
        self.seen_audio = False

    @abc.abstractmethod
    def _config(self, text: str) -> list[Action]:
        """The first text message: parse it, set the state, return StartStream or a fatal error."""

    @abc.abstractmethod
    def _is_end(self, message: dict[str, Any]) -> bool:
        ...

    @abc.abstractmethod
    def _error(self, text: str) -> SendJson:
        ...

    @abc.abstractmethod
    def _fatal(self, text: str, ending: Ending) -> list[Action]:
        """An error that ends the connection (the state becomes DONE)."""

    def received_text(self, text: str) -> list[Action]:
        words = self.WORDS
        if self.state is StreamState.AWAIT_CONFIG:
            return self._config(text)
        try:
            message = parse_json_object(text, f"{words.unknown}")
        except FieldError as exc:
            return [self._error(f"{exc}; after {words.config} send binary {words.audio} or {words.end}")]
        if not self._is_end(message):
            return [self._error(f"unknown {words.unknown} {text[:80]!r}; after {words.config} send binary "
                                f"{words.audio}, and {words.end} when done")]
        if self.state not in OPEN:
            return [self._error(f"end of audio already received; the last {words.results} are on their way")]
        self.state = StreamState.ENDING
        return [EndAudio()]

    def received_bytes(self, data: bytes) -> list[Action]:
        words = self.WORDS
        if self.state is StreamState.AWAIT_CONFIG:
            return self._fatal(f"audio received before {words.config}; send {words.config_example} first",
                               client_fault("config required first"))
        if self.state is StreamState.ENDING:
            return [self._error(f"audio after the end of audio ({words.end}) was dropped; connect again for a "
                                "new stream")]
        if self.state not in OPEN:
            return []
        if not data:
            return [self._error(f"empty audio frame ignored; send {words.audio}")]
        if len(data) % 2:
            return [self._error(f"audio frame of {len(data)} bytes is not a whole number of 16-bit samples; "
                                f"send {words.audio} in even-sized frames (this frame was dropped)")]
        self.seen_audio = True
        return send_audio(data)  # a large frame in several core messages
