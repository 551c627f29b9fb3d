"""Google Cloud Speech v1 `RecognitionConfig` -> the core's `StreamingConfig` (no I/O).

Every field of Google's config is either mapped, accepted and documented as not applied, or
refused with the words and the code Google uses for a config it would refuse itself
(INVALID_ARGUMENT). docs/google_speech.md has the table.
"""
from __future__ import annotations

from google.cloud import speech_v1

from asr.v1 import asr_pb2
from asr_common.contract import (MAX_AUDIO_CHANNELS, MAX_HOTWORD_CHARS, MAX_HOTWORDS, MAX_SAMPLE_RATE_HERTZ,
                                 MIN_SAMPLE_RATE_HERTZ)
from asr_common.language_tags import is_language_tag

Encoding = speech_v1.RecognitionConfig.AudioEncoding
RecognitionConfig = speech_v1.RecognitionConfig.pb()

# Google's encodings the core decodes itself (docs/audio.md): forwarded as they come.
ENCODINGS = {
    Encoding.ENCODING_UNSPECIFIED: asr_pb2.AUDIO_ENCODING_AUTO,  # Google reads WAV/FLAC headers: so does AUTO
    Encoding.LINEAR16: asr_pb2.AUDIO_ENCODING_LINEAR16,
    Encoding.FLAC: asr_pb2.AUDIO_ENCODING_FLAC,
    Encoding.MULAW: asr_pb2.AUDIO_ENCODING_MULAW,
    Encoding.OGG_OPUS: asr_pb2.AUDIO_ENCODING_OGG_OPUS,
    Encoding.WEBM_OPUS: asr_pb2.AUDIO_ENCODING_WEBM_OPUS,
    Encoding.MP3: asr_pb2.AUDIO_ENCODING_MP3,
}
# Google's published model names: accepted; the core picks its own model for the language.
MODELS = frozenset({"", "default", "latest_long", "latest_short", "command_and_search", "phone_call", "video",
                    "medical_dictation", "medical_conversation"})
MAX_ALTERNATIVES = 30  # Google's bound; we return one alternative (docs/google_speech.md)
MAX_SPEAKERS = 16  # the core's bound on diarization_config's speaker counts (asr.v1 DiarizationConfig)


class ConfigError(ValueError):
    """A config Google would refuse: INVALID_ARGUMENT with this message."""


def core_config(config: RecognitionConfig, engine: str, *, interim_results: bool = False) -> asr_pb2.StreamingConfig:
    """The core's config for Google's `config`, or ConfigError saying what to change."""
    encoding = ENCODINGS.get(config.encoding)
    if encoding is None:
        name = Encoding(config.encoding).name if config.encoding in Encoding._value2member_map_ else config.encoding
        raise ConfigError(f"encoding {name} is not supported; use LINEAR16, FLAC, MULAW, OGG_OPUS, WEBM_OPUS or MP3")
    if config.sample_rate_hertz and not MIN_SAMPLE_RATE_HERTZ <= config.sample_rate_hertz <= MAX_SAMPLE_RATE_HERTZ:
        raise ConfigError(f"sample_rate_hertz must be between {MIN_SAMPLE_RATE_HERTZ} and {MAX_SAMPLE_RATE_HERTZ}, "
                          f"got {config.sample_rate_hertz}")
    if not 0 <= config.audio_channel_count <= MAX_AUDIO_CHANNELS:
        raise ConfigError(f"audio_channel_count must be between 1 and {MAX_AUDIO_CHANNELS}")
    if not config.language_code:
        raise ConfigError("language_code is required, e.g. \"en-US\"")
    for tag in (config.language_code, *config.alternative_language_codes):
        if not is_language_tag(tag):
            raise ConfigError(f"invalid language code {tag!r}: use a BCP-47 tag such as \"en-US\"")
    if len(config.alternative_language_codes) > 3:
        raise ConfigError("at most 3 alternative_language_codes")
    if not 0 <= config.max_alternatives <= MAX_ALTERNATIVES:
        raise ConfigError(f"max_alternatives must be between 0 and {MAX_ALTERNATIVES}")
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; use one of {', '.join(sorted(MODELS - {''}))}")
    diarization = diarization_config(config)
    if config.HasField("adaptation") and (config.adaptation.phrase_sets or config.adaptation.phrase_set_references
                                          or config.adaptation.custom_classes):
        raise ConfigError("adaptation (phrase sets, custom classes) is not supported; use speech_contexts phrases")
    return asr_pb2.StreamingConfig(
        engine=engine, language=config.language_code, encoding=encoding,
        sample_rate_hertz=config.sample_rate_hertz, audio_channel_count=config.audio_channel_count,
        enable_separate_recognition_per_channel=config.enable_separate_recognition_per_channel,
        interim_results=interim_results,
        enable_word_time_offsets=config.enable_word_time_offsets or config.enable_word_confidence or bool(
            config.diarization_config.enable_speaker_diarization),
        enable_automatic_punctuation=config.enable_automatic_punctuation, hotwords=hotwords(config),
        diarization=diarization)


def diarization_config(config: RecognitionConfig) -> asr_pb2.DiarizationConfig | None:
    """Google's `diarization_config` (min/max_speaker_count; 0 = unset) as the core's; None = off."""
    d = config.diarization_config
    if not (config.HasField("diarization_config") and d.enable_speaker_diarization):
        return None
    if config.enable_separate_recognition_per_channel:
        raise ConfigError("speaker diarization with enable_separate_recognition_per_channel: each channel is one "
                          "speaker already; set one of them")
    for name in ("min_speaker_count", "max_speaker_count"):
        if not 0 <= getattr(d, name) <= MAX_SPEAKERS:
            raise ConfigError(f"diarization_config.{name} must be between 0 and {MAX_SPEAKERS}")
    if d.max_speaker_count and d.max_speaker_count < d.min_speaker_count:
        raise ConfigError("diarization_config.max_speaker_count must not be below min_speaker_count")
    return asr_pb2.DiarizationConfig(enable=True, min_speakers=d.min_speaker_count, max_speakers=d.max_speaker_count)


def hotwords(config: RecognitionConfig) -> list[str]:
    """speech_contexts phrases, in order, without repeats (boost is accepted: the core has no weights)."""
    phrases = list(dict.fromkeys(p.strip() for c in config.speech_contexts for p in c.phrases if p.strip()))
    if len(phrases) > MAX_HOTWORDS or any(len(p) > MAX_HOTWORD_CHARS for p in phrases):
        raise ConfigError(f"speech_contexts: at most {MAX_HOTWORDS} phrases of at most {MAX_HOTWORD_CHARS} "
                          "characters each")
    return phrases
