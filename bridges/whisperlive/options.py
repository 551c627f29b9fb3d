"""WhisperLive client options: validation and the mapping of Whisper model names to ours.

Model mapping (the only weights installed are faster-whisper `tiny.en` and multilingual `base`):

  requested                      English, task transcribe     language null / not English / translate
  tiny, tiny.en                  tiny.en                      base  (+ WARNING: tiny.en is English-only)
  base, base.en                  base                         base
  anything else (small, medium,  base (+ WARNING naming the   base (+ WARNING)
  large-v3, turbo, distil-*,     substitute)
  paths, unknown names)

Unknown names are served, not refused: the session works and the WARNING status message says
which model is actually transcribing, so the client can tell. The server's `--model` replaces
the client's choice for every session, as a reference server started with one model does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asr_common.contract import MIN_SILENCE_SECONDS

MIN_SILENCE_MS = tuple(round(s * 1000) for s in MIN_SILENCE_SECONDS)  # the core's bounds, in this option's unit

TASKS = ("transcribe", "translate")
AUDIO_FORMATS = ("float32", "int16", "uint8")
TINY_EN, BASE = "tiny.en", "base"
_PREFIXES = ("openai/whisper-", "systran/faster-whisper-", "faster-whisper-", "whisper-")

MAX_SPEAKERS = 16  # the core's bound on DiarizationConfig.max_speakers (the client sends 10 by default)

class OptionsError(ValueError):
    """The options frame cannot start a session; the message names the key and the fix."""


@dataclass(frozen=True)
class VadParameters:
    threshold: float | None = None
    min_silence_seconds: float | None = None


@dataclass(frozen=True)
class Options:
    uid: str
    language: str | None
    task: str
    model: str
    use_vad: bool = True
    send_last_n_segments: int = 10
    word_timestamps: bool = False
    audio_format: str = "float32"
    vad: VadParameters = VadParameters()
    initial_prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    max_clients: int | None = None  # the client's wish; the server's --max-clients decides
    max_connection_time: float | None = None  # seconds; a lower value than the server's is honoured
    diarization: bool = False  # enable_diarization (or the server's --enable-diarization): segments carry `speaker`
    max_speakers: int = 0  # with diarization: at most this many (0 = the core's limit)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sample_bytes(self) -> int:
        return {"float32": 4, "int16": 2, "uint8": 1}[self.audio_format]


@dataclass(frozen=True)
class ModelChoice:
    model: str
    warning: str | None


def _normalize(name: str) -> str:
    lowered = name.strip().lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            return lowered[len(prefix):]
    return lowered


def choose_model(requested: str, language: str | None, task: str) -> ModelChoice:
    """Which installed model serves `requested` (see the module docstring)."""
    name = _normalize(requested)
    english_only_ok = task == "transcribe" and language is not None and language.lower().split("-")[0] == "en"
    if name in ("tiny", "tiny.en"):
        if english_only_ok:
            return ModelChoice(TINY_EN, None)
        return ModelChoice(BASE, f"Model '{requested}' is English-only here; using 'base' for "
                                 "language detection, other languages and translation")
    if name == "base":
        return ModelChoice(BASE, None)
    if name == "base.en":
        return ModelChoice(BASE, "Model 'base.en' is not installed on this server; transcribing with 'base'")
    return ModelChoice(BASE, f"Model '{requested}' is not installed on this server; transcribing with 'base' "
                             "(installed: tiny.en, base)")


def _bool(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise OptionsError(f"Option '{key}' must be true or false, got {value!r}")
    return value


def _vad_parameters(value: Any) -> VadParameters:
    if value is None:
        return VadParameters()
    if not isinstance(value, dict):
        raise OptionsError(f"Option 'vad_parameters' must be an object such as "
                           f"{{\"threshold\": 0.5, \"min_silence_duration_ms\": 500}}, got {value!r}")
    threshold = value.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold < 1):
        raise OptionsError(f"vad_parameters.threshold must be a number in (0, 1), got {threshold!r}")
    silence_ms = value.get("min_silence_duration_ms")
    if silence_ms is not None and (isinstance(silence_ms, bool) or not isinstance(silence_ms, (int, float))
                                   or not MIN_SILENCE_MS[0] <= silence_ms <= MIN_SILENCE_MS[1]):
        raise OptionsError(f"vad_parameters.min_silence_duration_ms must be {MIN_SILENCE_MS[0]}-{MIN_SILENCE_MS[1]}, "
                           f"got {silence_ms!r}")
    return VadParameters(
        float(threshold) if threshold is not None else None,
        silence_ms / 1000 if silence_ms is not None else None,
    )


@dataclass(frozen=True)
class ServerDefaults:
    """The reference server's flags: --model, --language, --use-vad/--no-vad, --backend whisperx,
    --enable-diarization."""

    model: str | None = None  # every session uses this model (None: the client's `model`)
    language: str | None = "en"  # when the options leave `language` out (null still means detect)
    use_vad: bool = True  # False: VAD off for every session
    word_timestamps: bool = False  # --backend whisperx: every session gets word timestamps
    diarization: bool = False  # --enable-diarization: every session's segments carry a speaker


def parse_options(raw: Any, defaults: ServerDefaults = ServerDefaults()) -> Options:
    """Validate the first frame. Raises OptionsError naming the offending key."""
    if not isinstance(raw, dict):
        raise OptionsError(f"The first frame must be a JSON object of options, got {type(raw).__name__}")
    if "uid" not in raw:
        raise OptionsError("Missing option key 'uid'; the options frame needs a 'uid' (a UUID string); "
                           "'language', 'task' and 'model' default to the server's --language, transcribe "
                           "and --model")
    uid, language = raw["uid"], raw.get("language", defaults.language)
    task, model = raw.get("task", "transcribe"), raw.get("model", defaults.model or "small")
    if not isinstance(uid, str) or not uid:
        raise OptionsError(f"Option 'uid' must be a non-empty string, got {uid!r}")
    if language is not None and (not isinstance(language, str) or not language.strip()):
        raise OptionsError(f"Option 'language' must be a language code such as 'en' or null to detect, got {language!r}")
    if task not in TASKS:
        raise OptionsError(f"Option 'task' must be one of {list(TASKS)}, got {task!r}")
    if not isinstance(model, str) or not model.strip():
        raise OptionsError(f"Option 'model' must be a model name such as 'small' or 'tiny.en', got {model!r}")
    warnings = []
    if defaults.model and _normalize(model) != _normalize(defaults.model):
        warnings.append(f"This server serves every session with model '{defaults.model}' (its --model), "
                        f"not '{model}'")
        model = defaults.model
    last_n = raw.get("send_last_n_segments", 10)
    if last_n is None:
        last_n = 10
    if isinstance(last_n, bool) or not isinstance(last_n, int) or not 1 <= last_n <= 1000:
        raise OptionsError(f"Option 'send_last_n_segments' must be an integer from 1 to 1000, got {last_n!r}")
    audio_format = raw.get("audio_format", "float32") or "float32"
    if audio_format not in AUDIO_FORMATS:
        raise OptionsError(f"Option 'audio_format' must be one of {list(AUDIO_FORMATS)}, got {audio_format!r}")
    prompt = raw.get("initial_prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise OptionsError(f"Option 'initial_prompt' must be a string or null, got {prompt!r}")
    hotwords = _hotwords(raw.get("hotwords"))
    if _bool(raw, "enable_translation", False):
        warnings.append("enable_translation (any-to-any translation) is not supported here; "
                        "use task 'translate' for English output")
    diarization = _bool(raw, "enable_diarization", False) or defaults.diarization
    max_speakers = raw.get("max_speakers")
    if max_speakers is not None and (isinstance(max_speakers, bool) or not isinstance(max_speakers, int)
                                     or max_speakers < 1):
        raise OptionsError(f"Option 'max_speakers' must be a positive integer or null, got {max_speakers!r}")
    if diarization and raw.get("known_speakers"):
        warnings.append("known_speakers are not used here: speakers are labelled SPEAKER_00, SPEAKER_01, ... in "
                        "the order they are first heard")
    max_clients = _positive(raw, "max_clients", int)
    max_time = _positive(raw, "max_connection_time", float)
    return Options(
        uid=uid,
        language=language.strip() if isinstance(language, str) else None,
        task=task,
        model=model,
        use_vad=_bool(raw, "use_vad", True) and defaults.use_vad,
        send_last_n_segments=last_n,
        word_timestamps=_bool(raw, "word_timestamps", False) or defaults.word_timestamps,
        audio_format=audio_format,
        vad=_vad_parameters(raw.get("vad_parameters")),
        initial_prompt=prompt,
        hotwords=hotwords,
        max_clients=int(max_clients) if max_clients is not None else None,
        max_connection_time=max_time,
        diarization=diarization,
        max_speakers=min(max_speakers or 0, MAX_SPEAKERS),
        warnings=tuple(warnings),
    )


def _positive(raw: dict[str, Any], key: str, kind: type) -> float | None:
    """An optional positive number (an integer when `kind` is int); None when absent or null."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)) \
            or not 0 < value < 1e9:
        noun = "a positive integer" if kind is int else "a positive number of seconds"
        raise OptionsError(f"Option '{key}' must be {noun} or null, got {value!r}")
    return float(value)


def _hotwords(value: object) -> tuple[str, ...]:
    """The reference passes `hotwords` to faster-whisper as one string; a list of phrases is
    accepted too. Phrases are comma-separated."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return tuple(p.strip() for p in value if p.strip())
    raise OptionsError(f"Option 'hotwords' must be a string (comma-separated phrases), a list of strings "
                       f"or null, got {value!r}")
