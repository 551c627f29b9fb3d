"""Plain dataclasses for the asr.v1 messages a client sees, converted from and to the protos.

Times are float seconds (from the start of the stream, in audio time) instead of
`google.protobuf.Duration`; enums are short lower-case strings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Union

from google.protobuf import duration_pb2

from asr.v1 import asr_pb2

_ENCODINGS = {
    "linear16": asr_pb2.AUDIO_ENCODING_LINEAR16,
    "float32": asr_pb2.AUDIO_ENCODING_FLOAT32,
    "int32": asr_pb2.AUDIO_ENCODING_INT32,
}
_ENCODING_NAMES = {v: k for k, v in _ENCODINGS.items()} | {asr_pb2.AUDIO_ENCODING_UNSPECIFIED: "linear16"}
_TASKS = {"transcribe": asr_pb2.TASK_TRANSCRIBE, "translate": asr_pb2.TASK_TRANSLATE}
_TASK_NAMES = {v: k for k, v in _TASKS.items()} | {asr_pb2.TASK_UNSPECIFIED: "transcribe"}
_SPEECH_EVENTS = {
    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN: "begin",
    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END: "end",
}


def seconds(d: duration_pb2.Duration) -> float:
    return round(d.seconds + d.nanos / 1e9, 9)  # 1.672, not 1.6720000000000002


def duration(s: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(s * 1e9))
    return d


@dataclass
class StreamConfig:
    """What to recognize and how; mirrors `asr.v1.StreamingConfig`. Empty/None = server default."""

    engine: str = ""
    model: str = ""
    language: str = ""  # BCP-47 ("en-US") or ""; "" = detect
    task: str = "transcribe"  # or "translate"
    encoding: str = "linear16"  # "linear16" | "float32" | "int32"
    sample_rate_hertz: int = 16000
    audio_channel_count: int = 1
    interim_results: bool = False
    word_time_offsets: bool = False
    automatic_punctuation: bool = False
    vad_enabled: bool | None = None
    vad_threshold: float = 0.0  # 0 = server default
    min_silence: float | None = None  # seconds; None = server default
    partial_interval: float | None = None  # seconds; None = server default
    beam_size: int = 0
    session_id: str = ""
    prompt: str = ""  # context text (names, terms) for engines that take a prompt
    hotwords: tuple[str, ...] = ()  # phrases to favour
    separate_channels: bool = False  # recognize each channel on its own (results carry .channel)

    def to_proto(self) -> asr_pb2.StreamingConfig:
        if self.encoding not in _ENCODINGS:
            raise ValueError(f"unknown encoding {self.encoding!r}; use one of {sorted(_ENCODINGS)}")
        if self.task not in _TASKS:
            raise ValueError(f"unknown task {self.task!r}; use one of {sorted(_TASKS)}")
        msg = asr_pb2.StreamingConfig(
            engine=self.engine,
            model=self.model,
            language=self.language,
            task=_TASKS[self.task],
            encoding=_ENCODINGS[self.encoding],
            sample_rate_hertz=self.sample_rate_hertz,
            audio_channel_count=self.audio_channel_count,
            interim_results=self.interim_results,
            enable_word_time_offsets=self.word_time_offsets,
            enable_automatic_punctuation=self.automatic_punctuation,
            beam_size=self.beam_size,
            session_id=self.session_id,
            prompt=self.prompt,
            hotwords=list(self.hotwords),
            enable_separate_recognition_per_channel=self.separate_channels,
        )
        vad = _vad_proto(self.vad_enabled, self.vad_threshold, self.min_silence)
        if vad is not None:
            msg.vad.CopyFrom(vad)
        if self.partial_interval is not None:
            msg.partial_interval.CopyFrom(duration(self.partial_interval))
        return msg

    @classmethod
    def from_proto(cls, msg: asr_pb2.StreamingConfig) -> StreamConfig:
        return cls(
            engine=msg.engine,
            model=msg.model,
            language=msg.language,
            task=_TASK_NAMES.get(msg.task, str(msg.task)),
            encoding=_ENCODING_NAMES.get(msg.encoding, str(msg.encoding)),
            sample_rate_hertz=msg.sample_rate_hertz,
            audio_channel_count=msg.audio_channel_count,
            interim_results=msg.interim_results,
            word_time_offsets=msg.enable_word_time_offsets,
            automatic_punctuation=msg.enable_automatic_punctuation,
            vad_enabled=msg.vad.enabled if msg.vad.HasField("enabled") else None,
            vad_threshold=_f32(msg.vad.threshold),
            min_silence=seconds(msg.vad.min_silence_duration) if msg.vad.HasField("min_silence_duration") else None,
            partial_interval=seconds(msg.partial_interval) if msg.HasField("partial_interval") else None,
            beam_size=msg.beam_size,
            session_id=msg.session_id,
            prompt=msg.prompt,
            hotwords=tuple(msg.hotwords),
            separate_channels=msg.enable_separate_recognition_per_channel,
        )


def _vad_proto(enabled: bool | None, threshold: float, min_silence: float | None) -> asr_pb2.VadConfig | None:
    if enabled is None and not threshold and min_silence is None:
        return None
    vad = asr_pb2.VadConfig(threshold=threshold)
    if enabled is not None:
        vad.enabled = enabled
    if min_silence is not None:
        vad.min_silence_duration.CopyFrom(duration(min_silence))
    return vad


# --- controls a caller may put in the audio stream -------------------------------------------


@dataclass(frozen=True)
class Finalize:
    """Put in the audio iterator to flush the open utterance as a final result."""


@dataclass(frozen=True)
class UpdateSettings:
    """Put in the audio iterator to change endpointing mid-stream; None = keep."""

    vad_enabled: bool | None = None
    vad_threshold: float = 0.0
    min_silence: float | None = None
    partial_interval: float | None = None

    def to_proto(self) -> asr_pb2.UpdateSettings:
        msg = asr_pb2.UpdateSettings()
        vad = _vad_proto(self.vad_enabled, self.vad_threshold, self.min_silence)
        if vad is not None:
            msg.vad.CopyFrom(vad)
        if self.partial_interval is not None:
            msg.partial_interval.CopyFrom(duration(self.partial_interval))
        return msg


Control = Union[Finalize, UpdateSettings]


# --- server events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    engine: str
    model: str
    config: StreamConfig


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    confidence: float = 0.0


@dataclass(frozen=True)
class Result:
    segment_id: int
    text: str
    is_final: bool
    start: float
    end: float
    stability: float = 0.0
    confidence: float = 0.0
    words: tuple[Word, ...] = ()
    language: str = ""
    language_probability: float = 0.0
    processing_time: float = 0.0
    channel: int = 0  # 1-based with per-channel recognition; 0 otherwise

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["words"] = [asdict(w) for w in self.words]
        return d


@dataclass(frozen=True)
class SpeechEvent:
    kind: str  # "begin" | "end" | "unspecified"
    offset: float


@dataclass(frozen=True)
class SettingsUpdated:
    vad_enabled: bool | None
    vad_threshold: float
    min_silence: float | None
    partial_interval: float | None


@dataclass(frozen=True)
class Summary:
    audio_processed: float
    segment_count: int
    transcript: str


Event = Union[SessionStarted, Result, SpeechEvent, SettingsUpdated, Summary]


def event_from_proto(msg: asr_pb2.RecognizeResponse) -> Event | None:
    """The typed event in one response; None for a response kind this client does not know."""
    kind = msg.WhichOneof("response")
    if kind == "session_started":
        s = msg.session_started
        return SessionStarted(s.session_id, s.engine, s.model, StreamConfig.from_proto(s.resolved_config))
    if kind == "result":
        return result_from_proto(msg.result)
    if kind == "speech_event":
        e = msg.speech_event
        return SpeechEvent(_SPEECH_EVENTS.get(e.type, "unspecified"), seconds(e.offset))
    if kind == "settings_updated":
        u = msg.settings_updated
        return SettingsUpdated(
            vad_enabled=u.vad.enabled if u.vad.HasField("enabled") else None,
            vad_threshold=_f32(u.vad.threshold),
            min_silence=seconds(u.vad.min_silence_duration) if u.vad.HasField("min_silence_duration") else None,
            partial_interval=seconds(u.partial_interval) if u.HasField("partial_interval") else None,
        )
    if kind == "summary":
        s = msg.summary
        return Summary(seconds(s.audio_processed), s.segment_count, s.transcript)
    return None


def _f32(x: float) -> float:
    """A proto float32 as the decimal it was meant to be (0.815, not 0.8149999976158142)."""
    return round(x, 6)


def result_from_proto(r: asr_pb2.RecognitionResult) -> Result:
    return Result(
        segment_id=r.segment_id,
        text=r.text,
        is_final=r.is_final,
        start=seconds(r.start_offset),
        end=seconds(r.end_offset),
        stability=_f32(r.stability),
        confidence=_f32(r.confidence),
        words=tuple(Word(w.word, seconds(w.start_offset), seconds(w.end_offset), _f32(w.confidence)) for w in r.words),
        language=r.language,
        language_probability=_f32(r.language_probability),
        processing_time=seconds(r.processing_time),
        channel=r.channel_tag,
    )


# --- engines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    native_streaming: bool
    interim_results: bool
    word_time_offsets: bool
    translate: bool
    language_detection: bool
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    aliases: tuple[str, ...] = ()
    available: bool = True
    unavailable_reason: str = ""
    multilingual: bool = False
    source: str = ""


@dataclass(frozen=True)
class EngineInfo:
    name: str
    aliases: tuple[str, ...]
    available: bool
    unavailable_reason: str
    capabilities: Capabilities
    models: tuple[ModelInfo, ...]
    default_model: str


@dataclass(frozen=True)
class EngineList:
    engines: tuple[EngineInfo, ...]
    default_engine: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def engines_from_proto(msg: asr_pb2.ListEnginesResponse) -> EngineList:
    engines = []
    for e in msg.engines:
        c = e.capabilities
        engines.append(EngineInfo(
            name=e.name,
            aliases=tuple(e.aliases),
            available=e.available,
            unavailable_reason=e.unavailable_reason,
            capabilities=Capabilities(
                native_streaming=c.native_streaming,
                interim_results=c.interim_results,
                word_time_offsets=c.word_time_offsets,
                translate=c.translate,
                language_detection=c.language_detection,
                languages=tuple(c.languages),
            ),
            models=tuple(
                ModelInfo(m.name, tuple(m.aliases), m.available, m.unavailable_reason, m.multilingual, m.source)
                for m in e.models
            ),
            default_model=e.default_model,
        ))
    return EngineList(tuple(engines), msg.default_engine)
