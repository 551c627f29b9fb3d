"""faster-whisper, the embedded default engine: tiny.en (English) and base (multilingual).

Each model is loaded once, on first use (the default model at start-up), and served by one
DecodeScheduler shared by all sessions. Streaming comes from the segmenter's re-decode strategy (VAD endpointing,
partial re-decodes, finals at end of speech).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, replace
from typing import Awaitable

import numpy as np

from asr_common.contract import MAX_BEAM_SIZE
from asr_common.redact import new_error_id

from .. import models
from ..config import segmentation_settings
from ..scheduler import FINAL, DecodeScheduler
from ..segmenter.redecode import RedecodeStream
from ..vad import SileroVad
from .base import (Capabilities, Emit, Engine, EngineDescription, EngineStream, EngineUnavailable,
                   InvalidSettings, Load, ModelDescription, SessionSettings, primary_language)
from .language_routing import LanguageRouter
from .no_speech import silent
from .whisper_decoder import FULL_WINDOW_FRAMES, HOP, DecodeRequest, Transcript, WhisperDecoder
from .whisper_device import Placement, place

log = logging.getLogger(__name__)

WHISPER_LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr "
    "bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn "
    "yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue"
).split()


# final_window "auto": full windows while no real-time final waits and real-time finals used
# less than this share of the model's decode time over the last 10 s
FULL_WINDOW_MAX_FINAL_SHARE = 0.25


@dataclass(frozen=True)
class WhisperOptions:
    """The core's flags for Whisper (core_service/config.py says what each one does)."""

    default_model: str = "tiny.en"
    route_languages: bool = True  # no language and no model: follow the speaker's language (language_routing.py)
    # decoders: one CTranslate2 model per name, `workers` decodes at once, each on `cpu_threads`,
    # on `device` (auto, cpu, cuda; whisper_device.py) in `compute_type` ("" = int8 on the CPU,
    # float16 on CUDA)
    device: str = "auto"
    device_index: int = 0
    compute_type: str = ""
    cpu_threads: int = 1
    workers: int = 2
    max_batch: int = 1
    decode_queue_limit: int = 256
    # encoder windows: partials trimmed; finals "full" (Whisper's 30 s, as offline, ~3x the CPU
    # of trimmed), "trimmed", or "auto": full for the English-only model while its real-time
    # finals leave room
    window: str = "trimmed"
    final_window: str = "auto"
    final_beam_size: int = 1  # beam of finals when the session sets none
    # segmenting (core_service/segmenter/): the server's segmentation (config.SEGMENTATION_PRESETS)
    segmentation: str = "live"
    max_utterance: float = 15.0
    sentence_end_silence: float = 0.2
    sentence_end_after: float = 5.0
    vad_threads: int = 1


@dataclass
class _LoadedModel:
    decoder: WhisperDecoder
    scheduler: DecodeScheduler


def decode_purpose(request: DecodeRequest, final: bool) -> str:
    """What a decode is for, as the metrics count them: partial, final (trimmed window),
    final_full (Whisper's 30 s window) or identify (language routing's identification)."""
    if request.detect_only:
        return "identify"
    if not final:
        return "partial"
    return "final_full" if request.full_window else "final"


class WhisperStream(RedecodeStream):
    """RedecodeStream (whose `backlog_seconds` drives the session's flow control) on shared
    DecodeSchedulers: its decodes are queued in the class `realtime` says, and its round-robin
    turn among uploads is dropped when it closes."""

    def __init__(self, *args, schedulers: list[DecodeScheduler], **kw):
        super().__init__(*args, **kw)
        self._schedulers = schedulers

    async def close(self) -> None:
        await super().close()
        for scheduler in self._schedulers:
            scheduler.forget(self)


class WhisperEngine(Engine):
    name = "whisper"
    aliases = ("faster-whisper", "faster_whisper", "whisper")

    def __init__(self, options: WhisperOptions | None = None):
        self.options = options or WhisperOptions()
        self._models: dict[str, _LoadedModel] = {}
        self._lock = threading.Lock()
        self._catalog = {m.name: m for m in (models.TINY_EN, models.BASE)}
        self.placement: Placement | None = None
        self._device_problem = ""  # why the device asked for cannot serve, phrased as what to do
        try:
            self.placement = place(self.options.device, self.options.device_index, self.options.compute_type)
        except EngineUnavailable as exc:
            self._device_problem = exc.message

    @property
    def device(self) -> str:
        """Where the models decode, as ListEngines says it: "cpu" or "cuda:<index>"."""
        if self.placement is not None:
            return self.placement.label
        return "cpu" if self.options.device == "cpu" else f"cuda:{self.options.device_index}"

    # ---- catalogue ------------------------------------------------------------------------
    def _path(self, name: str) -> str:
        return str(models.tiny_en_path() if name == "tiny.en" else models.base_path())

    def _model_available(self, name: str) -> tuple[bool, str]:
        try:
            path = models.tiny_en_path() if name == "tiny.en" else models.base_path(assemble=False)
            return (path / "model.bin").is_file(), ""
        except models.ModelUnavailable as exc:
            return False, str(exc)

    def canonical_model(self, requested: str) -> str:
        if not requested:
            return self.options.default_model
        for m in self._catalog.values():
            if requested == m.name or requested in m.aliases:
                return m.name
        raise InvalidSettings(f"unknown whisper model {requested!r}; choose one of "
                              f"{sorted({a for m in self._catalog.values() for a in (m.name, *m.aliases)})}",
                              field_name="config.model")

    def describe(self) -> EngineDescription:
        descs = []
        for m in self._catalog.values():
            ok, why = self._model_available(m.name)
            ok, why = (False, self._device_problem) if self._device_problem else (ok, why)
            descs.append(ModelDescription(m.name, m.aliases, ok, why, m.multilingual, m.source))
        return EngineDescription(
            name=self.name, aliases=self.aliases,
            capabilities=Capabilities(native_streaming=False, interim_results=True, word_time_offsets=True,
                                      translate=True, language_detection=True, languages=tuple(WHISPER_LANGUAGES),
                                      prompt=True, hotwords=True),
            models=tuple(descs), default_model=self.options.default_model,
            available=any(d.available for d in descs),
            unavailable_reason=self._device_problem
            or "; ".join(d.unavailable_reason for d in descs if not d.available),
            device=self.device,
        )

    # ---- sessions -------------------------------------------------------------------------
    def resolve(self, settings: SessionSettings) -> SessionSettings:
        if self._device_problem:
            raise EngineUnavailable(f"whisper engine unavailable: {self._device_problem}")
        lang = primary_language(settings.language) if settings.language else ""
        if lang and lang not in WHISPER_LANGUAGES:
            raise InvalidSettings(f"unsupported language {settings.language!r} for whisper; use a BCP-47 tag "
                                  f"whose language Whisper knows (e.g. en-US, ar-EG, zh-CN) or leave it empty to detect",
                                  field_name="config.language")
        requested_model = settings.model
        if settings.model:
            model = self.canonical_model(settings.model)
        elif settings.task == "translate" or (lang and lang != "en"):
            model = "base"  # English-only tiny.en cannot do this: pick the multilingual model
        else:
            model = self.options.default_model
        multilingual = self._catalog[model].multilingual
        if not multilingual:
            if lang and lang != "en":
                raise InvalidSettings(f"model {model} is English-only; use model 'base' for language {settings.language!r}",
                                      field_name="config.model")
            if settings.task == "translate":
                raise InvalidSettings(f"model {model} cannot translate; use model 'base'", field_name="config.task")
        ok, why = self._model_available(model)
        if not ok and model != "base":
            raise EngineUnavailable(f"whisper model {model} is not installed: {why}")
        if not 0 <= settings.beam_size <= MAX_BEAM_SIZE:
            raise InvalidSettings(f"beam_size must be between 0 and {MAX_BEAM_SIZE}", field_name="config.beam_size")
        if not 0 <= settings.partial_beam_size <= MAX_BEAM_SIZE:
            raise InvalidSettings(f"partial_beam_size must be between 0 and {MAX_BEAM_SIZE}",
                                  field_name="config.partial_beam_size")
        settings.engine = self.name
        settings.model = model
        if not multilingual and not lang and (requested_model or not self._routes(settings)):
            settings.language = "en"  # an explicit English-only model is obeyed: English, no routing
        settings.beam_size = settings.beam_size or int(self._segmentation(settings)["final_beam_size"])
        settings.partial_beam_size = settings.partial_beam_size or 1
        return settings

    def _routes(self, settings: SessionSettings) -> bool:
        """Whether a resolved session follows its speaker's language (see language_routing.py):
        the default English-only model, no language asked for, and the multilingual model here."""
        return (self.options.route_languages and not settings.language and settings.task == "transcribe"
                and settings.model == self.options.default_model and not self._catalog[settings.model].multilingual
                and self._model_available("base")[0])

    def _load(self, name: str) -> _LoadedModel:
        with self._lock:
            loaded = self._models.get(name)
            if loaded is None:
                decoder = self._decoder(name)
                scheduler = DecodeScheduler(decoder.decode, name=name, max_batch=self.options.max_batch,
                                            workers=self.options.workers, max_queue=self.options.decode_queue_limit,
                                            firm_fraction=lambda requests: self._firm_fraction(decoder, requests),
                                            purpose=decode_purpose)
                loaded = self._models[name] = _LoadedModel(decoder, scheduler)
            return loaded

    def _decoder(self, name: str) -> WhisperDecoder:
        """Load model `name` on the device asked for, or say why it cannot be."""
        placement = self.placement
        if placement is None:
            raise EngineUnavailable(f"whisper engine unavailable: {self._device_problem}")
        try:
            return WhisperDecoder(self._path(name), compute_type=placement.compute_type,
                                  cpu_threads=self.options.cpu_threads, window=self.options.window,
                                  workers=self.options.workers, device=placement.device,
                                  device_index=placement.index)
        except models.ModelUnavailable as exc:
            raise EngineUnavailable(str(exc)) from exc
        except (RuntimeError, ValueError) as exc:  # CTranslate2 refused the device or the compute type
            error_id = new_error_id()
            log.exception("error %s: whisper model %s could not be loaded on %s (%s)", error_id, name,
                          placement.label, placement.compute_type)
            remedy = "try another --compute-type"
            if placement.device == "cuda":
                remedy = ("check the NVIDIA driver and the CUDA 12 libraries faster-whisper needs "
                          "(docs/engines.md), or run the core with --device cpu")
            raise EngineUnavailable(
                f"whisper model {name} could not be loaded on {placement.label} in {placement.compute_type} "
                f"(error id {error_id}: the core's log has CTranslate2's message); {remedy}") from exc

    async def _loaded(self, name: str) -> _LoadedModel:
        if name in self._models:
            return self._models[name]
        return await asyncio.get_running_loop().run_in_executor(None, self._load, name)

    async def warm_up(self) -> None:
        loaded = await self._loaded(self.options.default_model)
        # not a stream's work: queued as an upload's, so that admission does not count it
        await loaded.scheduler.submit(DecodeRequest(np.zeros(16000, np.float32)), owner=self, final=True,
                                      realtime=False)
        loaded.scheduler.forget(self)
        if self.options.route_languages and self._model_available("base")[0] and \
                not self._catalog[self.options.default_model].multilingual:
            await self._loaded("base")  # language routing identifies with it: load it before the first session
        await asyncio.get_running_loop().run_in_executor(None, SileroVad.shared, self.options.vad_threads)

    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        loaded = await self._loaded(settings.model)
        language = primary_language(settings.language) if settings.language else None
        task, hotwords = settings.task, ", ".join(settings.hotwords)
        stream: WhisperStream

        accurate = (settings.segmentation or self.options.segmentation) == "accurate"

        def submit(model: _LoadedModel, request: DecodeRequest, final: bool) -> Awaitable[tuple[Transcript, float]]:
            request = replace(request, full_window=final and self._full_final_window(model, accurate))
            return model.scheduler.submit(request, owner=stream, final=final, realtime=stream.realtime)

        router = None
        if self._routes(settings):
            multilingual = await self._loaded("base")
            router = LanguageRouter(lambda request, final: submit(loaded, request, final),
                                    lambda request, final: submit(multilingual, request, final))

        async def transcribe(audio: np.ndarray, final: bool, words: bool, previous: str = "",
                             last_language: str = "") -> tuple[Transcript, float]:
            if silent(audio):  # nothing to hear: never decoded, so nothing invented (no_speech.py)
                return Transcript(text="", no_speech_prob=1.0), 0.0
            beam = settings.beam_size if final else settings.partial_beam_size or 1
            request = DecodeRequest(audio, language=language, task=task, beam_size=beam, word_timestamps=words,
                                    prompt=settings.prompt, previous=previous, hotwords=hotwords)
            if router is not None:
                return await router.transcribe(request, final, last_language)
            return await submit(loaded, request, final)

        max_utterance, sentence_end_silence = self._cuts(settings)
        stream = WhisperStream(settings, transcribe, emit, SileroVad.shared(self.options.vad_threads),
                               max_utterance=max_utterance, sentence_end_silence=sentence_end_silence,
                               sentence_end_after=self.options.sentence_end_after,
                               schedulers=[loaded.scheduler] + ([multilingual.scheduler] if router else []))
        return stream

    def _segmentation(self, settings: SessionSettings) -> dict[str, float]:
        """The segmentation settings of a session: the server's own flags, or the preset of the
        segmentation the session chose when it is not the server's."""
        return segmentation_settings(settings.segmentation, self.options.segmentation,
                                     {"max_utterance": self.options.max_utterance,
                                      "sentence_end_silence": self.options.sentence_end_silence,
                                      "final_beam_size": self.options.final_beam_size})

    def _cuts(self, settings: SessionSettings) -> tuple[float, float]:
        """(max_utterance, sentence_end_silence) of a session."""
        cuts = self._segmentation(settings)
        return float(cuts["max_utterance"]), float(cuts["sentence_end_silence"])

    def _full_final_window(self, model: _LoadedModel, accurate: bool = False) -> bool:
        """Whether a final decodes in Whisper's full 30 s window (`--final-window`; "auto" decides
        per final). On real speech, trimmed windows change tiny.en's words ("clubs" heard as
        "clothes"); full windows bring its streams within 1.5 WER points of offline Whisper, and
        with accurate segmentation's long cuts and beam 5 within a point for base as well (on
        English; no real non-English recording measured it). Live base finals stay trimmed: there
        they gained nothing and a routed Spanish clip got worse (docs/performance.md). Under load "auto" keeps the trimmed window's third of the cost for
        latency and capacity: always while a real-time final waits for a worker, and for live
        sessions also once real-time finals used a quarter of the model's decode time lately."""
        if self.options.final_window != "auto":
            return self.options.final_window == "full"
        scheduler = model.scheduler
        if scheduler.finals_waiting:
            return False
        if accurate:
            return True
        return not model.decoder.multilingual and scheduler.utilization(10.0, FINAL) < FULL_WINDOW_MAX_FINAL_SHARE

    def _firm_fraction(self, decoder: WhisperDecoder, requests: list[DecodeRequest]) -> float:
        """The share of a batch's decode time a loaded decoder would spend on it too (what
        admission counts): all of it, except for a full window `--final-window auto` chose, which
        is spare capacity spent on accuracy (under load auto falls back to the trimmed window).
        Counted as the trimmed window's share of the full one: the encoder's cost grows with its
        window (measured: tiny.en, 1.5 to 6 s of speech, 0.28-0.31 s trimmed against 1.05-1.13 s
        full on one thread, a little below the 1/3 this counts)."""
        if self.options.final_window != "auto" or not any(r.full_window for r in requests):
            return 1.0
        frames = max(len(r.audio) // HOP + 1 for r in requests)
        return decoder.window_frames(frames, full=False) / FULL_WINDOW_FRAMES

    def use_default_model(self, model: str) -> None:
        self.options = replace(self.options, default_model=self.canonical_model(model))

    async def preload(self, model: str) -> None:
        await self._loaded(self.canonical_model(model))

    def load(self) -> Load:
        """The models' shares added up: their workers share the machine's cores (a routed
        session's final costs a tiny.en decode and base's identifications)."""
        schedulers = [m.scheduler for m in self._models.values()]
        return Load(sum(s.meter.share() for s in schedulers),
                    max((s.final_backlog() for s in schedulers), default=0.0))

    def log_load(self) -> None:
        for name, loaded in self._models.items():
            if loaded.scheduler.stats.decodes:
                log.info("decoder %s: %s", name, loaded.scheduler.describe())

    async def aclose(self) -> None:
        for loaded in self._models.values():
            loaded.scheduler.close()
