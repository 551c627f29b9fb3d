"""Between asr.v1 protos and the engine dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

from asr.v1 import asr_pb2
from google.protobuf import duration_pb2

from asr_common.contract import (DEFAULT_SAMPLE_RATE_HERTZ, MAX_AUDIO_CHANNELS, MAX_HOTWORD_CHARS, MAX_HOTWORDS,
                                 MAX_PROMPT_CHARS, MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ, MIN_SILENCE_SECONDS,
                                 PARTIAL_INTERVAL_SECONDS, SESSION_ID, SESSION_ID_RULE, TELEPHONY_SAMPLE_RATE_HERTZ)
from asr_common.durations import duration, seconds
from asr_common.language_tags import is_language_tag
from asr_common.redact import redact_paths

from .config import ServerConfig, segmentation_settings
from .container_audio import DEMUXERS
from .diarization.clustering import MAX_SPEAKERS
from .diarization.diarizer import DiarizationSettings
from .engines.base import EngineDescription, Result, SessionSettings, SpeechBoundary, VadSettings
from .errors import invalid

_ENCODINGS = {
    asr_pb2.AUDIO_ENCODING_UNSPECIFIED: "LINEAR16",
    asr_pb2.AUDIO_ENCODING_LINEAR16: "LINEAR16",
    asr_pb2.AUDIO_ENCODING_FLOAT32: "FLOAT32",
    asr_pb2.AUDIO_ENCODING_INT32: "INT32",
    asr_pb2.AUDIO_ENCODING_MULAW: "MULAW",
    asr_pb2.AUDIO_ENCODING_ALAW: "ALAW",
    asr_pb2.AUDIO_ENCODING_FLAC: "FLAC",
    asr_pb2.AUDIO_ENCODING_MP3: "MP3",
    asr_pb2.AUDIO_ENCODING_OGG_OPUS: "OGG_OPUS",
    asr_pb2.AUDIO_ENCODING_WEBM_OPUS: "WEBM_OPUS",
    asr_pb2.AUDIO_ENCODING_AUTO: "AUTO",
}
# Encodings whose streams carry their own sample rate and channel count (container_audio.py).
COMPRESSED = frozenset(DEMUXERS)
_DEFAULT_RATES = {"MULAW": TELEPHONY_SAMPLE_RATE_HERTZ, "ALAW": TELEPHONY_SAMPLE_RATE_HERTZ}
_TASKS = {asr_pb2.TASK_UNSPECIFIED: "transcribe", asr_pb2.TASK_TRANSCRIBE: "transcribe",
          asr_pb2.TASK_TRANSLATE: "translate"}
_SEGMENTATIONS = {asr_pb2.SEGMENTATION_UNSPECIFIED: "", asr_pb2.SEGMENTATION_LIVE: "live",
                  asr_pb2.SEGMENTATION_ACCURATE: "accurate"}



@dataclass
class AudioFormat:
    encoding: str
    sample_rate: int
    channels: int


def vad_settings(v: asr_pb2.VadConfig, base: VadSettings) -> VadSettings:
    out = VadSettings(base.enabled, base.threshold, base.min_silence)
    if v.HasField("enabled"):
        out.enabled = v.enabled
    if v.threshold:
        if not 0.0 < v.threshold < 1.0:
            raise invalid("vad.threshold must be between 0 and 1 (exclusive)", "config.vad.threshold")
        out.threshold = v.threshold
    if v.HasField("min_silence_duration"):
        s = seconds(v.min_silence_duration)
        if s:
            low, high = MIN_SILENCE_SECONDS
            if not low <= s <= high:
                raise invalid(f"vad.min_silence_duration must be between {low:g} s and {high:g} s",
                              "config.vad.min_silence_duration")
            out.min_silence = s
    return out


def partial_interval(d: duration_pb2.Duration, field_name: str) -> float | None:
    s = seconds(d)
    if not s:
        return None
    low, high = PARTIAL_INTERVAL_SECONDS
    if not low <= s <= high:
        raise invalid(f"partial_interval must be between {low:g} s and {high:g} s", field_name)
    return s


def settings_from_config(c: asr_pb2.StreamingConfig, server: ServerConfig) -> tuple[SessionSettings, AudioFormat]:
    if c.encoding not in _ENCODINGS:
        names = ", ".join(sorted(set(_ENCODINGS.values())))
        raise invalid(f"unknown audio encoding {c.encoding}; use one of {names}", "config.encoding")
    encoding = _ENCODINGS[c.encoding]
    rate = c.sample_rate_hertz or _DEFAULT_RATES.get(encoding, DEFAULT_SAMPLE_RATE_HERTZ)
    if encoding in COMPRESSED:
        rate = 0  # the stream's own
    elif not MIN_SAMPLE_RATE_HERTZ <= rate <= MAX_SAMPLE_RATE_HERTZ:
        raise invalid(f"sample_rate_hertz {rate} is out of range; use {MIN_SAMPLE_RATE_HERTZ}..{MAX_SAMPLE_RATE_HERTZ}",
                      "config.sample_rate_hertz")
    channels = c.audio_channel_count or 1
    if not 1 <= channels <= MAX_AUDIO_CHANNELS:
        raise invalid(f"audio_channel_count {channels} is out of range; use 1..{MAX_AUDIO_CHANNELS}",
                      "config.audio_channel_count")
    if c.language and not is_language_tag(c.language):
        raise invalid(f"language {c.language!r} is not a BCP-47 tag (e.g. en-US); leave empty to detect",
                      "config.language")
    if c.task not in _TASKS:
        raise invalid(f"unknown task {c.task}", "config.task")
    if c.beam_size < 0:
        raise invalid("beam_size must be >= 0", "config.beam_size")
    if c.session_id and not SESSION_ID.fullmatch(c.session_id):
        raise invalid(f"session_id must be {SESSION_ID_RULE} (or empty: the server picks one)", "config.session_id")
    if c.partial_beam_size < 0:
        raise invalid("partial_beam_size must be >= 0", "config.partial_beam_size")
    prompt, hotwords = context_fields(c)
    if c.segmentation not in _SEGMENTATIONS:
        raise invalid(f"unknown segmentation {c.segmentation}; use SEGMENTATION_LIVE or SEGMENTATION_ACCURATE",
                      "config.segmentation")
    segmentation = _SEGMENTATIONS[c.segmentation] or server.segmentation
    # a session's own vad.min_silence_duration wins over its segmentation's
    min_silence = segmentation_settings(segmentation, server.segmentation, server.segmentation_settings())["min_silence"]
    vad = vad_settings(c.vad, VadSettings(True, 0.5, min_silence))
    interval = partial_interval(c.partial_interval, "config.partial_interval") or server.partial_interval
    settings = SessionSettings(
        engine=c.engine, model=c.model, language=c.language, task=_TASKS[c.task],
        interim_results=c.interim_results, word_time_offsets=c.enable_word_time_offsets,
        punctuation=c.enable_automatic_punctuation, vad=vad, partial_interval=interval,
        beam_size=c.beam_size, session_id=c.session_id, prompt=prompt, hotwords=hotwords,
        partial_beam_size=c.partial_beam_size,
        condition_on_previous_text=c.condition_on_previous_text if c.HasField("condition_on_previous_text") else True,
        separate_channels=c.enable_separate_recognition_per_channel, segmentation=segmentation)
    if encoding in COMPRESSED and not c.enable_separate_recognition_per_channel:
        channels = 0  # the stream's own, downmixed
    return settings, AudioFormat(encoding, rate, channels)



def context_fields(c: asr_pb2.StreamingConfig) -> tuple[str, tuple[str, ...]]:
    """The prompt and hotwords, checked against their documented limits."""
    if len(c.prompt) > MAX_PROMPT_CHARS:
        raise invalid(f"prompt is {len(c.prompt)} characters; send at most {MAX_PROMPT_CHARS}", "config.prompt")
    if len(c.hotwords) > MAX_HOTWORDS:
        raise invalid(f"{len(c.hotwords)} hotwords; send at most {MAX_HOTWORDS}", "config.hotwords")
    hotwords = tuple(h.strip() for h in c.hotwords if h.strip())
    if any(len(h) > MAX_HOTWORD_CHARS for h in hotwords):
        raise invalid(f"a hotword is longer than {MAX_HOTWORD_CHARS} characters; send names and short phrases",
                      "config.hotwords")
    return c.prompt.strip(), hotwords


def diarization_settings(c: asr_pb2.StreamingConfig) -> DiarizationSettings:
    d = c.diarization
    for name in ("min_speakers", "max_speakers"):
        if not 0 <= getattr(d, name) <= MAX_SPEAKERS:
            raise invalid(f"diarization.{name} must be 0..{MAX_SPEAKERS} (0 = no limit)", f"config.diarization.{name}")
    if d.max_speakers and d.max_speakers < d.min_speakers:
        raise invalid("diarization.max_speakers must not be below min_speakers", "config.diarization.max_speakers")
    if d.enable and c.enable_separate_recognition_per_channel:
        raise invalid("diarization with enable_separate_recognition_per_channel: each channel is already one "
                      "speaker; set one of them", "config.diarization.enable")
    return DiarizationSettings(d.enable, d.min_speakers, d.max_speakers)


def diarization_proto(d: DiarizationSettings) -> asr_pb2.DiarizationConfig:
    return asr_pb2.DiarizationConfig(enable=d.enabled, min_speakers=d.min_speakers, max_speakers=d.max_speakers)


def speakers_proto(talk_times: dict[int, float]) -> list[asr_pb2.SpeakerTalkTime]:
    return [asr_pb2.SpeakerTalkTime(speaker=s, talk_time=duration(t)) for s, t in sorted(talk_times.items())]


def vad_proto(v: VadSettings) -> asr_pb2.VadConfig:
    return asr_pb2.VadConfig(enabled=v.enabled, threshold=v.threshold, min_silence_duration=duration(v.min_silence))


def resolved_config(s: SessionSettings, fmt: AudioFormat) -> asr_pb2.StreamingConfig:
    return asr_pb2.StreamingConfig(
        engine=s.engine, model=s.model, language=s.language,
        task=asr_pb2.TASK_TRANSLATE if s.task == "translate" else asr_pb2.TASK_TRANSCRIBE,
        encoding=getattr(asr_pb2, "AUDIO_ENCODING_" + fmt.encoding), sample_rate_hertz=fmt.sample_rate,
        audio_channel_count=fmt.channels, interim_results=s.interim_results,
        enable_word_time_offsets=s.word_time_offsets, vad=vad_proto(s.vad),
        partial_interval=duration(s.partial_interval), beam_size=s.beam_size, session_id=s.session_id,
        enable_automatic_punctuation=s.punctuation, prompt=s.prompt, hotwords=list(s.hotwords),
        enable_separate_recognition_per_channel=s.separate_channels,
        partial_beam_size=s.partial_beam_size, condition_on_previous_text=s.condition_on_previous_text,
        segmentation=getattr(asr_pb2, "SEGMENTATION_" + s.segmentation.upper()) if s.segmentation else 0)


def result_proto(r: Result) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(
        segment_id=r.segment_id, text=r.text, is_final=r.is_final, stability=r.stability,
        confidence=r.confidence, start_offset=duration(r.start), end_offset=duration(r.end),
        words=[asr_pb2.WordInfo(word=w.word, start_offset=duration(w.start), end_offset=duration(w.end),
                                confidence=w.confidence, speaker=w.speaker) for w in r.words],
        language=r.language, language_probability=r.language_probability,
        processing_time=duration(r.processing_time), channel_tag=r.channel, speaker=r.speaker))


def boundary_proto(b: SpeechBoundary) -> asr_pb2.RecognizeResponse:
    kind = asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN if b.kind == "begin" else asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END
    return asr_pb2.RecognizeResponse(speech_event=asr_pb2.SpeechEvent(type=kind, offset=duration(b.offset),
                                                                      channel_tag=b.channel))


def audio_encodings() -> list[int]:
    """The AudioEncoding values this server decodes (ListEngines)."""
    return sorted(e for e in _ENCODINGS if e != asr_pb2.AUDIO_ENCODING_UNSPECIFIED)


def engine_proto(d: EngineDescription) -> asr_pb2.EngineInfo:
    c = d.capabilities
    return asr_pb2.EngineInfo(
        name=d.name, aliases=list(d.aliases), available=d.available, unavailable_reason=redact_paths(d.unavailable_reason),
        default_model=d.default_model, device=d.device,
        capabilities=asr_pb2.EngineCapabilities(
            native_streaming=c.native_streaming, interim_results=c.interim_results,
            word_time_offsets=c.word_time_offsets, translate=c.translate,
            language_detection=c.language_detection, languages=list(c.languages),
            prompt=c.prompt, hotwords=c.hotwords, diarization=c.diarization),
        models=[asr_pb2.ModelInfo(name=m.name, aliases=list(m.aliases), available=m.available,
                                  unavailable_reason=redact_paths(m.unavailable_reason), multilingual=m.multilingual,
                                  source=redact_paths(m.source)) for m in d.models])
