"""Deepgram's `/v1/listen` query parameters (live and prerecorded), parsed once into `ListenOptions`.

Booleans in Deepgram's spelling (`true`/`false`, any case); unknown parameters are ignored as
Deepgram ignores them; a parameter we cannot honour is refused (`diarize` with `multichannel`) or
named in `warnings` (docs/deepgram.md), never silently wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from google.protobuf import duration_pb2

from asr.v1 import asr_pb2
from asr_common.contract import MAX_SAMPLE_RATE_HERTZ, MIN_SAMPLE_RATE_HERTZ
from bridges.fields import FieldError, check_language

ENCODINGS = {
    "linear16": asr_pb2.AUDIO_ENCODING_LINEAR16, "linear32": asr_pb2.AUDIO_ENCODING_INT32,
    "mulaw": asr_pb2.AUDIO_ENCODING_MULAW, "alaw": asr_pb2.AUDIO_ENCODING_ALAW, "opus": asr_pb2.AUDIO_ENCODING_OGG_OPUS,
    "ogg-opus": asr_pb2.AUDIO_ENCODING_OGG_OPUS, "flac": asr_pb2.AUDIO_ENCODING_FLAC,
}
RAW_ENCODINGS = frozenset({"linear16", "linear32", "mulaw", "alaw"})  # headerless: the sample rate is the client's
# Deepgram's model families: all mean "the core's default model for the language".
DEEPGRAM_MODELS = ("nova", "enhanced", "base", "general", "phonecall", "meeting", "voicemail", "finance",
                   "conversationalai", "video", "medical", "drivethru", "automotive", "atc", "whisper", "flux")
MIN_ENDPOINTING_MS = 300  # below this the core's endpointer would split sentences at every word gap
MAX_CHANNELS = 8
IGNORED_WITH_WARNING = ("profanity_filter", "numerals", "redact", "replace", "search", "detect_entities",
                        "dictation", "callback")


def get_bool(query: Mapping[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise FieldError(f"{name} must be true or false, not {value!r}")


def get_int(query: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise FieldError(f"{name} must be a whole number in {low}..{high}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class ListenOptions:
    model: str = ""  # "" = the core's default for the language
    model_name: str = "general"  # as the client named it (echoed in model_info)
    language: str = "en"  # "" = detect (language=multi)
    encoding: str = ""  # "" = a container to detect
    sample_rate: int | None = None
    channels: int = 1
    multichannel: bool = False
    interim_results: bool = False
    endpointing_ms: int | None = None  # None = the core's default silence
    speech_final: bool = True  # endpointing=false: finals are not turn ends
    utterance_end_ms: int | None = None
    vad_events: bool = False
    punctuate: bool = False
    smart_format: bool = False
    utterances: bool = False
    diarize: bool = False  # words (and utterances, paragraphs) carry a 0-based `speaker`
    hotwords: tuple[str, ...] = ()
    warnings: tuple[dict[str, str], ...] = ()

    @classmethod
    def parse(cls, query: Mapping[str, str], live: bool) -> "ListenOptions":
        diarize = get_bool(query, "diarize", False)
        if diarize and get_bool(query, "multichannel", False):
            raise FieldError("diarize with multichannel=true: each channel is already one speaker; set one of them")
        model_name = query.get("model") or "general"
        model = "" if model_name.lower().startswith(DEEPGRAM_MODELS) else model_name
        language = query.get("language") or "en"
        language = "" if language == "multi" else check_language(language, "language")
        encoding = (query.get("encoding") or "").lower()
        if encoding and encoding not in ENCODINGS:
            raise FieldError(f"encoding {encoding!r} is not supported; use one of {', '.join(ENCODINGS)}, "
                             "or leave it out for a container (WAV, MP3, Ogg, WebM, ...)")
        sample_rate = get_int(query, "sample_rate", MIN_SAMPLE_RATE_HERTZ, MAX_SAMPLE_RATE_HERTZ)
        if encoding in ("linear16", "linear32") and sample_rate is None:
            raise FieldError(f"sample_rate is required with encoding={encoding}")
        endpointing = query.get("endpointing", "")
        speech_final = endpointing.lower() != "false"
        endpointing_ms = get_int(query, "endpointing", 0, 10_000) if speech_final else None
        smart_format = get_bool(query, "smart_format", False)
        keywords = [query[name].split(":")[0].strip() for name in ("keywords", "keyterm") if query.get(name)]
        warnings = tuple({"parameter": name, "type": "unsupported",
                          "message": f"{name} is accepted and has no effect on this server"}
                         for name in IGNORED_WITH_WARNING if query.get(name) not in (None, "", "false"))
        return cls(model=model, model_name=model_name, language=language, encoding=encoding,
                   sample_rate=sample_rate, channels=get_int(query, "channels", 1, MAX_CHANNELS) or 1,
                   multichannel=get_bool(query, "multichannel", False),
                   interim_results=live and get_bool(query, "interim_results", False),
                   endpointing_ms=endpointing_ms, speech_final=speech_final,
                   utterance_end_ms=get_int(query, "utterance_end_ms", 0, 60_000),
                   vad_events=get_bool(query, "vad_events", False),
                   punctuate=get_bool(query, "punctuate", False) or smart_format, smart_format=smart_format,
                   utterances=get_bool(query, "utterances", False), diarize=diarize, hotwords=tuple(k for k in keywords if k),
                   warnings=warnings)

    def to_proto(self, engine: str) -> asr_pb2.StreamingConfig:
        vad = asr_pb2.VadConfig(enabled=True)
        if self.endpointing_ms is not None:
            silence_ms = max(self.endpointing_ms, MIN_ENDPOINTING_MS)
            vad.min_silence_duration.CopyFrom(duration_pb2.Duration(seconds=silence_ms // 1000,
                                                                    nanos=silence_ms % 1000 * 1_000_000))
        encoding = ENCODINGS.get(self.encoding, asr_pb2.AUDIO_ENCODING_AUTO)
        return asr_pb2.StreamingConfig(
            engine=engine, model=self.model, language=self.language, encoding=encoding,
            sample_rate_hertz=self.sample_rate or (8000 if self.encoding in ("mulaw", "alaw") else 0),
            audio_channel_count=self.channels, enable_separate_recognition_per_channel=self.multichannel,
            interim_results=self.interim_results, enable_word_time_offsets=True, vad=vad,
            enable_automatic_punctuation=True, hotwords=list(self.hotwords),
            diarization=asr_pb2.DiarizationConfig(enable=True) if self.diarize else None)
