"""The form fields of a transcription or translation request, checked as OpenAI checks them.

`model` (required; bridges/openai/models.py), `language` (BCP-47, transcriptions only),
`prompt`, `response_format` (json, text, srt, vtt, verbose_json; diarized_json for transcriptions:
speaker segments from the core's diarization), `temperature` (0..1,
accepted and not used: the engine decodes by beam search), `timestamp_granularities[]`
(segment, word; verbose_json only), `stream` (true: server-sent events), `include[]`
(`logprobs` is refused: the engines report no token log-probabilities).
"""
from __future__ import annotations

from dataclasses import dataclass

from asr_common.language_tags import is_language_tag
from bridges.openai.form import FormReader
from bridges.openai.formats import FORMATS
from bridges.openai.models import CoreModel, core_model

GRANULARITIES = ("segment", "word")
MAX_PROMPT_CHARS = 1000  # StreamingConfig.prompt's bound


class RequestError(ValueError):
    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class AudioRequest:
    model: CoreModel
    language: str
    prompt: str
    response_format: str
    stream: bool
    segments: bool  # verbose_json: segments
    words: bool  # verbose_json: words

    @property
    def diarize(self) -> bool:
        return self.response_format == "diarized_json"


def _bool(value: str | None, param: str) -> bool:
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise RequestError(f"'{param}' must be true or false, not {value!r}", param)


def _temperature(value: str | None) -> None:
    try:
        temperature = float(value) if value is not None else 0.0
    except ValueError:
        raise RequestError(f"'temperature' must be a number from 0 to 1, not {value!r}", "temperature") from None
    if not 0.0 <= temperature <= 1.0:
        raise RequestError(f"'temperature' must be from 0 to 1, not {temperature:g}", "temperature")


def parse_request(form: FormReader, translate: bool) -> AudioRequest:
    """The request's settings, or RequestError naming the field to fix."""
    model = form.value("model")
    if not model:
        raise RequestError("you must provide a model parameter (e.g. 'whisper-1')", "model")
    language = form.value("language") or ""
    if language and (translate or not is_language_tag(language)):
        raise RequestError("'language' is not taken by translations (the output is English)" if translate else
                           f"'language' must be an ISO-639-1 or BCP-47 tag such as 'en', not {language!r}", "language")
    prompt = form.value("prompt") or ""
    if len(prompt) > MAX_PROMPT_CHARS:
        raise RequestError(f"'prompt' is at most {MAX_PROMPT_CHARS} characters", "prompt")
    response_format = form.value("response_format") or "json"
    if response_format not in FORMATS:
        raise RequestError(f"'response_format' must be one of {', '.join(FORMATS)}, not {response_format!r}",
                           "response_format")
    if response_format == "diarized_json" and translate:
        raise RequestError("'response_format' diarized_json is for transcriptions; translations take json, text, "
                           "srt, vtt or verbose_json", "response_format")
    _temperature(form.value("temperature"))
    for item in form.values("include[]") + form.values("include"):
        raise RequestError(f"include[]={item} is not supported: the engines report no token log-probabilities; "
                           "send the request without 'include'", "include")
    granularities = form.values("timestamp_granularities[]") + form.values("timestamp_granularities")
    for item in granularities:
        if item not in GRANULARITIES:
            raise RequestError(f"'timestamp_granularities[]' takes segment and word, not {item!r}",
                               "timestamp_granularities")
    if granularities and response_format != "verbose_json":
        raise RequestError("'timestamp_granularities[]' needs response_format verbose_json",
                           "timestamp_granularities")
    stream = _bool(form.value("stream"), "stream")
    if stream and response_format not in ("json", "text", "diarized_json"):
        raise RequestError(f"stream=true answers with events; response_format {response_format!r} "
                           "is not streamed (use json, text or diarized_json)", "stream")
    return AudioRequest(core_model(model), language, prompt, response_format, stream,
                        segments=not granularities or "segment" in granularities, words="word" in granularities)
