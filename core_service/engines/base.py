"""The small interface every speech engine implements.

An `Engine` is loaded once per process and shared by all sessions. For each session the core
calls `open_stream(settings, emit)` and gets an `EngineStream`; it then feeds 16 kHz mono
float32 audio with `accept`, and calls `finalize`, `update` and finally `finish` (end of audio)
or `close` (the call was cancelled). The stream reports what it hears by calling `emit` with
`Result` and `SpeechBoundary` events, always from the event loop thread. An engine that fails
between calls (a remote stream broke) emits the `EngineError` itself: the session then ends
with that error at once, after delivering the results already emitted.
"""
from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from typing import Callable, Union

import grpc
import numpy as np

# An engine describes itself in the terms ListEngines sends (asr_common/capabilities.py).
from asr_common.capabilities import Capabilities
from asr_common.capabilities import ModelInfo as ModelDescription

from ..errors import ApiError

SAMPLE_RATE = 16000  # every engine is fed 16 kHz mono float32
BACKLOG_POLL_SECONDS = 0.02  # how often the default wait_backlog_below re-checks


class EngineError(ApiError):
    """An engine's error for the client: the core's `ApiError` (core_service/errors.py) with the
    status and reason of its kind preset; `code` overrides the status where the engine chooses it."""

    default_code = grpc.StatusCode.INTERNAL
    default_reason = "ENGINE_ERROR"

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None, field_name: str = "",
                 retry_after: float | None = None):
        super().__init__(code or self.default_code, message, reason=self.default_reason, field_name=field_name,
                         retry_after=retry_after)


class InvalidSettings(EngineError):
    default_code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_CONFIG"


class EngineUnavailable(EngineError):
    """Engine or model installed but not usable (no weights, no credentials, missing extra)."""

    default_code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "ENGINE_UNAVAILABLE"


class UpstreamError(EngineError):
    """A remote engine (Google) failed; the engine chooses `code` (UNAVAILABLE when it does not)."""

    default_code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UPSTREAM_ERROR"


def primary_language(tag: str) -> str:
    """'en-US' -> 'en', 'zh-CN' -> 'zh', 'yue-HK' -> 'yue'."""
    return tag.replace("_", "-").split("-")[0].lower()


@dataclass(frozen=True)
class Load:
    """How busy an engine's shared decoders are with real-time finals lately, for admission
    control (core_service/admission.py; core_service/load_meter.py measures it)."""

    final_share: float  # fraction of decoder time real-time finals took lately, at firm cost (half-life 5 s)
    final_wait: float  # seconds real-time finals waited behind other real-time finals (p95 of the last 5 s, or now)


IDLE = Load(0.0, 0.0)


@dataclass(frozen=True)
class EngineDescription:
    name: str
    aliases: tuple[str, ...]
    capabilities: Capabilities
    models: tuple[ModelDescription, ...]
    default_model: str
    available: bool
    unavailable_reason: str = ""
    device: str = ""  # where a local engine decodes: "cpu", "cuda:0"; "" for a remote engine


@dataclass
class VadSettings:
    enabled: bool = True
    threshold: float = 0.5
    min_silence: float = 0.5  # seconds of silence that end an utterance


@dataclass
class SessionSettings:
    """A session's resolved configuration, in engine terms (audio is already 16 kHz mono)."""

    engine: str
    model: str
    language: str = ""  # BCP-47 or ISO 639-1; "" = detect
    task: str = "transcribe"  # or "translate"
    interim_results: bool = False
    word_time_offsets: bool = False
    punctuation: bool = False
    vad: VadSettings = field(default_factory=VadSettings)
    partial_interval: float = 0.5
    beam_size: int = 0  # of finals; 0 = engine default
    session_id: str = ""
    prompt: str = ""  # context text for engines with the prompt capability
    hotwords: tuple[str, ...] = ()  # phrases to favour, for engines with the hotwords capability
    partial_beam_size: int = 0  # 0 = 1 (greedy)
    condition_on_previous_text: bool = True
    separate_channels: bool = False  # each channel recognized on its own (done by the core)
    segmentation: str = ""  # where finals are cut: "live" or "accurate" (config.SEGMENTATION_PRESETS); "" = the server's


@dataclass
class Word:
    word: str
    start: float  # seconds from stream start
    end: float
    confidence: float = 0.0
    speaker: int = 0  # set by the core's diarizer; 0 = unknown


@dataclass
class Result:
    segment_id: int
    text: str
    is_final: bool
    start: float  # seconds from stream start
    end: float
    stability: float = 0.0
    confidence: float = 0.0
    words: list[Word] = field(default_factory=list)
    language: str = ""
    language_probability: float = 0.0
    processing_time: float = 0.0  # seconds
    channel: int = 0  # 1-based audio channel with per-channel recognition; 0 otherwise
    speaker: int = 0  # set by the core's diarizer (core_service/diarization/); 0 = unknown


@dataclass
class SpeechBoundary:
    kind: str  # "begin" | "end"
    offset: float  # seconds from stream start
    channel: int = 0  # 1-based audio channel with per-channel recognition; 0 otherwise


Event = Union[Result, SpeechBoundary, EngineError]
Emit = Callable[[Event], None]


class EngineStream(abc.ABC):
    """One session's recognition state inside an engine."""

    settings: SessionSettings  # the settings in force (update() may change them)
    # Set by the session from the measured arrival rate (core_service/pacing.py): False for an
    # upload, whose work an engine with shared decoders schedules behind real-time streams' work.
    realtime: bool = True

    def backlog_seconds(self) -> float:
        """Seconds of audio accepted whose final result has not been emitted yet (audio the
        engine still holds or is decoding). The session stops reading a stream's requests while
        this is above `--max-backlog-seconds`, so a fast sender is slowed by gRPC flow control
        instead of buffered. Must be cheap: it is asked before every request. Default: 0 (an
        engine that decodes inside `accept` never holds a backlog)."""
        return 0.0

    async def wait_backlog_below(self, seconds: float) -> None:
        """Return once the part of the backlog that waiting can reduce (audio queued for or in
        decoding, not the open utterance, which only more audio ends) is below `seconds`.
        Default: poll `backlog_seconds()`."""
        while self.backlog_seconds() >= seconds:
            await asyncio.sleep(BACKLOG_POLL_SECONDS)

    @abc.abstractmethod
    async def accept(self, audio: np.ndarray) -> None:
        """Take the next 16 kHz mono float32 samples. Must not block the event loop."""

    @abc.abstractmethod
    async def finalize(self) -> None:
        """Emit the open utterance as a final result now (the stream continues)."""

    async def update(self, vad: VadSettings | None, partial_interval: float | None) -> None:
        """Apply new endpointing settings mid-stream. Default: not supported, ignore."""

    @abc.abstractmethod
    async def finish(self) -> None:
        """End of audio: emit every remaining final result, then return."""

    async def close(self) -> None:
        """Release resources; called exactly once, after finish or on cancellation."""


class Engine(abc.ABC):
    """An engine family, loaded once and shared by every session.

    Abstract: `describe`, `resolve`, `open_stream`. The rest have defaults an engine overrides
    when it has something to say: `use_default_model` (the core's --model), `warm_up` and
    `preload` (start-up), `load` and `log_load` (shared decoders' work), `aclose` (shutdown).
    """

    name: str = ""
    aliases: tuple[str, ...] = ()

    @abc.abstractmethod
    def describe(self) -> EngineDescription:
        """Capabilities, models and availability, with reasons. Must be cheap and never raise."""

    @abc.abstractmethod
    def resolve(self, settings: SessionSettings) -> SessionSettings:
        """Check and complete settings (canonical model name, defaults).

        Raises InvalidSettings for a bad request, EngineUnavailable when what was asked
        for is not installed or configured (say exactly what is missing).
        """

    def transcribing(self, settings: SessionSettings, *, model: str, default_language: str, unavailable: str,
                     title: str) -> SessionSettings:
        """The end of `resolve` for an engine that cannot translate: refuse task translate, raise
        EngineUnavailable with `unavailable` when it is set (messages name the engine by `title`,
        e.g. "Google Speech-to-Text"), then fill in engine, `model` and the language
        (`default_language` when the session names none)."""
        if settings.task == "translate":
            raise InvalidSettings(f"{title} cannot translate; use task TRANSCRIBE", field_name="config.task")
        if unavailable:
            raise EngineUnavailable(f"{title} engine unavailable: {unavailable}")
        settings.engine, settings.model = self.name, model
        settings.language = settings.language or default_language
        return settings

    @abc.abstractmethod
    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        """Start a session with resolved settings."""

    def use_default_model(self, model: str) -> None:
        """Make `model` the model of sessions that name none (the core's --model, given to its
        default engine). Raises InvalidSettings for a model this engine does not have. Default:
        the engine has one model, and `model` must be one of its names."""
        default = self.describe()
        names = {n for m in default.models for n in (m.name, *m.aliases)}
        if model not in names:
            raise InvalidSettings(f"--model {model!r} is not a model of engine {self.name}; "
                                  f"use one of {sorted(names)} or leave --model empty", field_name="model")

    async def warm_up(self) -> None:
        """Load the default model ahead of the first session. Default: nothing to load."""

    async def preload(self, model: str) -> None:
        """Load `model` (a name or alias; empty = the default model) ahead of the first session
        (the core's --preload). Default: `warm_up`."""
        await self.warm_up()

    def load(self) -> Load:
        """How busy the engine's shared local decoders are with finals (for admission control).
        Must be cheap. Default: idle (a remote engine, or one decoding inside each session)."""
        return IDLE

    def log_load(self) -> None:
        """Log a line per shared decoder on its recent work (every --load-log-interval).
        Default: nothing to log."""

    async def aclose(self) -> None:
        """Free shared resources at server shutdown."""
