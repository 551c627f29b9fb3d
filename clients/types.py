"""Plain dataclasses for the asr.v1 messages a client sees, converted from and to the protos.

Times are float seconds (from the start of the stream, in audio time) instead of
`google.protobuf.Duration`; enums are short lower-case strings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Union

from asr.v1 import asr_pb2

from asr_common.capabilities import Capabilities, ModelInfo
from asr_common.durations import duration, seconds

_ENCODINGS = {
    "linear16": asr_pb2.AUDIO_ENCODING_LINEAR16,
    "float32": asr_pb2.AUDIO_ENCODING_FLOAT32,
    "int32": asr_pb2.AUDIO_ENCODING_INT32,
    "mulaw": asr_pb2.AUDIO_ENCODING_MULAW,
    "alaw": asr_pb2.AUDIO_ENCODING_ALAW,
    "flac": asr_pb2.AUDIO_ENCODING_FLAC,
    "mp3": asr_pb2.AUDIO_ENCODING_MP3,
    "ogg_opus": asr_pb2.AUDIO_ENCODING_OGG_OPUS,
    "webm_opus": asr_pb2.AUDIO_ENCODING_WEBM_OPUS,
    "auto": asr_pb2.AUDIO_ENCODING_AUTO,  # the server detects the container (WAV, FLAC, MP3, Ogg, WebM, MP4, ...)
}
_ENCODING_NAMES = {v: k for k, v in _ENCODINGS.items()} | {asr_pb2.AUDIO_ENCODING_UNSPECIFIED: "linear16"}
_TASKS = {"transcribe": asr_pb2.TASK_TRANSCRIBE, "translate": asr_pb2.TASK_TRANSLATE}
_TASK_NAMES = {v: k for k, v in _TASKS.items()} | {asr_pb2.TASK_UNSPECIFIED: "transcribe"}
_SEGMENTATIONS = {"": asr_pb2.SEGMENTATION_UNSPECIFIED, "live": asr_pb2.SEGMENTATION_LIVE,
                  "accurate": asr_pb2.SEGMENTATION_ACCURATE}
_SEGMENTATION_NAMES = {v: k for k, v in _SEGMENTATIONS.items()}
_SPEECH_EVENTS = {
    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN: "begin",
    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END: "end",
}


@dataclass
class StreamConfig:
    """What to recognize and how; mirrors `asr.v1.StreamingConfig`. Empty/None = server default."""

    engine: str = ""
    model: str = ""
    language: str = ""  # BCP-47 ("en-US") or ""; "" = detect
    task: str = "transcribe"  # or "translate"
    # raw samples "linear16" | "float32" | "int32", G.711 "mulaw" | "alaw", or a compressed stream the server
    # decodes, with its own rate and channels: "flac" | "mp3" | "ogg_opus" | "webm_opus" | "auto" (docs/audio.md)
    encoding: str = "linear16"
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
    # where finals are cut: "live" (soon after each phrase), "accurate" (long clips, beam 5, as offline),
    # "" = the server's --segmentation
    segmentation: str = ""
    diarization: bool = False  # label who speaks: Result.speaker and Word.speaker 1, 2, ...
    min_speakers: int = 0  # with diarization: expected at least (0 = no minimum)
    max_speakers: int = 0  # with diarization: at most (0 = the server's limit)

    def to_proto(self) -> asr_pb2.StreamingConfig:
        if self.encoding not in _ENCODINGS:
            raise ValueError(f"unknown encoding {self.encoding!r}; use one of {sorted(_ENCODINGS)}")
        if self.task not in _TASKS:
            raise ValueError(f"unknown task {self.task!r}; use one of {sorted(_TASKS)}")
        if self.segmentation not in _SEGMENTATIONS:
            raise ValueError(f"unknown segmentation {self.segmentation!r}; use 'live', 'accurate' or ''")
        msg = asr_pb2.StreamingConfig(task=_TASKS[self.task], encoding=_ENCODINGS[self.encoding],
                                      segmentation=_SEGMENTATIONS[self.segmentation],
                                      hotwords=list(self.hotwords),
                                      **{wire: getattr(self, name) for name, wire in _COPIED_FIELDS.items()})
        _set_endpointing(msg, self.vad_enabled, self.vad_threshold, self.min_silence, self.partial_interval)
        if self.diarization or self.min_speakers or self.max_speakers:
            msg.diarization.CopyFrom(asr_pb2.DiarizationConfig(enable=self.diarization, min_speakers=self.min_speakers,
                                                               max_speakers=self.max_speakers))
        return msg

    @classmethod
    def from_proto(cls, msg: asr_pb2.StreamingConfig) -> StreamConfig:
        return cls(task=_TASK_NAMES.get(msg.task, str(msg.task)),
                   encoding=_ENCODING_NAMES.get(msg.encoding, str(msg.encoding)),
                   segmentation=_SEGMENTATION_NAMES.get(msg.segmentation, str(msg.segmentation)),
                   hotwords=tuple(msg.hotwords), **_endpointing(msg), diarization=msg.diarization.enable,
                   min_speakers=msg.diarization.min_speakers, max_speakers=msg.diarization.max_speakers,
                   **{name: getattr(msg, wire) for name, wire in _COPIED_FIELDS.items()})


# StreamConfig field -> asr.v1.StreamingConfig field, for the fields copied as they are
_COPIED_FIELDS = {
    "engine": "engine",
    "model": "model",
    "language": "language",
    "sample_rate_hertz": "sample_rate_hertz",
    "audio_channel_count": "audio_channel_count",
    "interim_results": "interim_results",
    "word_time_offsets": "enable_word_time_offsets",
    "automatic_punctuation": "enable_automatic_punctuation",
    "beam_size": "beam_size",
    "session_id": "session_id",
    "prompt": "prompt",
    "separate_channels": "enable_separate_recognition_per_channel",
}


def _set_endpointing(msg: asr_pb2.StreamingConfig | asr_pb2.UpdateSettings, vad_enabled: bool | None,
                     vad_threshold: float, min_silence: float | None, partial_interval: float | None) -> None:
    """Fill the `vad` and `partial_interval` fields a config and a settings update share; None
    (and a 0 threshold) leave a field unset, which means the server's value."""
    if vad_enabled is not None or vad_threshold or min_silence is not None:
        msg.vad.threshold = vad_threshold
        if vad_enabled is not None:
            msg.vad.enabled = vad_enabled
        if min_silence is not None:
            msg.vad.min_silence_duration.CopyFrom(duration(min_silence))
    if partial_interval is not None:
        msg.partial_interval.CopyFrom(duration(partial_interval))


def _endpointing(msg: asr_pb2.StreamingConfig | asr_pb2.SettingsUpdated) -> dict[str, Any]:
    """The endpointing fields of a config or a settings echo, as keyword arguments; None = unset."""
    vad = msg.vad
    return dict(
        vad_enabled=vad.enabled if vad.HasField("enabled") else None,
        vad_threshold=_f32(vad.threshold),
        min_silence=seconds(vad.min_silence_duration) if vad.HasField("min_silence_duration") else None,
        partial_interval=seconds(msg.partial_interval) if msg.HasField("partial_interval") else None,
    )


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
        _set_endpointing(msg, self.vad_enabled, self.vad_threshold, self.min_silence, self.partial_interval)
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
    speaker: int = 0  # with diarization: 1, 2, ...; 0 = unknown


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
    speaker: int = 0  # with diarization: 1, 2, ... (partials: the current guess); 0 = unknown

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
    speakers: dict[int, float] = field(default_factory=dict)  # with diarization: talk time (s) per speaker


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
        return SettingsUpdated(**_endpointing(u))
    if kind == "summary":
        s = msg.summary
        return Summary(seconds(s.audio_processed), s.segment_count, s.transcript,
                       {t.speaker: seconds(t.talk_time) for t in s.speakers})
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
        words=tuple(Word(w.word, seconds(w.start_offset), seconds(w.end_offset), _f32(w.confidence), w.speaker)
                    for w in r.words),
        language=r.language,
        language_probability=_f32(r.language_probability),
        processing_time=seconds(r.processing_time),
        channel=r.channel_tag,
        speaker=r.speaker,
    )


# --- engines ---------------------------------------------------------------------------------


# Capabilities and ModelInfo are the core's own engine declarations too (asr_common/capabilities.py).


@dataclass(frozen=True)
class EngineInfo:
    name: str
    aliases: tuple[str, ...]
    available: bool
    unavailable_reason: str
    capabilities: Capabilities
    models: tuple[ModelInfo, ...]
    default_model: str
    device: str = ""  # "cpu", "cuda:0"; "" for a remote engine


@dataclass(frozen=True)
class EngineList:
    engines: tuple[EngineInfo, ...]
    default_engine: str
    audio_encodings: tuple[str, ...] = ()  # StreamConfig.encoding names the server decodes; () = not reported

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def engines_from_proto(msg: asr_pb2.ListEnginesResponse) -> EngineList:
    return EngineList(tuple(
        _from_message(EngineInfo, e, capabilities=_from_message(Capabilities, e.capabilities),
                      models=tuple(_from_message(ModelInfo, m) for m in e.models))
        for e in msg.engines), msg.default_engine,
        tuple(_ENCODING_NAMES.get(e, str(e)) for e in msg.audio_encodings))


def _from_message(cls: type, msg: Any, **given: Any) -> Any:
    """The dataclass `cls` from the proto message whose fields have the same names (repeated
    fields as tuples); `given` supplies the fields that need more than a copy."""
    values = dict(given)
    for f in fields(cls):
        if f.name not in values:
            value = getattr(msg, f.name)
            values[f.name] = tuple(value) if msg.DESCRIPTOR.fields_by_name[f.name].is_repeated else value
    return cls(**values)
