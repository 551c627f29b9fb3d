"""Google Cloud Speech-to-Text v1 streaming (`google-cloud-speech`, `SpeechClient.streaming_recognize`).

One SpeechClient (one gRPC channel) is shared by every session; each session is a chain of
Google streams (see google_stream.py) that hides Google's ~5-minute stream limit.

Environment (keyword arguments of `GoogleEngine` override them):
  GOOGLE_APPLICATION_CREDENTIALS  service-account JSON key file (Google's own variable); without
                                  it, gcloud's application-default credentials file is used
  ASR_GOOGLE_ENDPOINT             host:port of a Speech API emulator or test server: insecure
                                  channel, anonymous credentials (no Google account needed)
  ASR_GOOGLE_API_ENDPOINT         a TLS endpoint instead of speech.googleapis.com
                                  (e.g. eu-speech.googleapis.com)
  ASR_GOOGLE_LANGUAGE             language when the session names none, default en-US
  ASR_GOOGLE_MODEL                Google model when the session names none, default "default"
  ASR_GOOGLE_RESTART_SECONDS      open a new Google stream after this much audio or wall time,
                                  default 290 (Google's limit is ~305 s)
  ASR_GOOGLE_IDLE_SECONDS         half-close the Google stream when the client sends no audio for
                                  this long, default 5 (Google fails a stream after ~10 s without audio)
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import (
    Capabilities, Emit, Engine, EngineDescription, EngineStream, EngineUnavailable, InvalidSettings,
    ModelDescription, SessionSettings,
)

log = logging.getLogger(__name__)

MODELS = ("default", "latest_long", "latest_short", "command_and_search", "phone_call", "video",
          "medical_dictation", "medical_conversation")


def _adc_file() -> Path:
    config_dir = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    return Path(config_dir) / "application_default_credentials.json"


@dataclass
class GoogleOptions:
    endpoint: str = ""  # insecure host:port (emulator, tests)
    api_endpoint: str = ""  # TLS endpoint override
    credentials_file: str = ""
    language: str = "en-US"
    model: str = "default"
    restart_seconds: float = 290.0
    idle_seconds: float = 5.0

    @classmethod
    def from_env(cls, **overrides: Any) -> "GoogleOptions":
        env = os.environ.get
        opts = cls(
            endpoint=env("ASR_GOOGLE_ENDPOINT", ""),
            api_endpoint=env("ASR_GOOGLE_API_ENDPOINT", ""),
            credentials_file=env("GOOGLE_APPLICATION_CREDENTIALS", ""),
            language=env("ASR_GOOGLE_LANGUAGE", "en-US"),
            model=env("ASR_GOOGLE_MODEL", "default"),
            restart_seconds=float(env("ASR_GOOGLE_RESTART_SECONDS", "290")),
            idle_seconds=float(env("ASR_GOOGLE_IDLE_SECONDS", "5")),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(opts, key, value)
        if not 0 < opts.restart_seconds <= 300:
            raise ValueError("ASR_GOOGLE_RESTART_SECONDS must be in (0, 300]: Google ends streams at ~305 s")
        return opts


def missing_reason(opts: GoogleOptions) -> str:
    """Why the engine cannot serve (empty when it can), phrased as what to do. Cheap: no network."""
    if importlib.util.find_spec("google.cloud.speech_v1") is None:
        return "google-cloud-speech is not installed: pip install '.[google]' (make install does)"
    if opts.endpoint:
        return ""
    if opts.credentials_file:
        if not Path(opts.credentials_file).is_file():
            return f"GOOGLE_APPLICATION_CREDENTIALS={opts.credentials_file} does not exist"
        return ""
    if _adc_file().is_file():
        return ""
    return ("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file "
            "(or run `gcloud auth application-default login`), or ASR_GOOGLE_ENDPOINT=host:port for an emulator")


class GoogleEngine(Engine):
    name = "google"
    aliases = ("google-cloud-speech", "gcp")

    def __init__(self, **overrides: Any):
        self.opts = GoogleOptions.from_env(**overrides)
        self._client: Any = None
        self._lock = threading.Lock()

    def describe(self) -> EngineDescription:
        reason = missing_reason(self.opts)
        source = (f"emulator at {self.opts.endpoint}" if self.opts.endpoint
                  else self.opts.api_endpoint or "speech.googleapis.com")
        models = tuple(
            ModelDescription(name=m, available=not reason, unavailable_reason=reason, multilingual=True,
                             source=source)
            for m in MODELS
        )
        return EngineDescription(
            name=self.name, aliases=self.aliases,
            capabilities=Capabilities(
                native_streaming=True, interim_results=True, word_time_offsets=True, translate=False,
                language_detection=False, languages=(),  # 125+ BCP-47 languages; Google keeps the list
            ),
            models=models, default_model=self.opts.model, available=not reason, unavailable_reason=reason,
        )

    def resolve(self, settings: SessionSettings) -> SessionSettings:
        model = settings.model or self.opts.model
        if model not in MODELS:
            raise InvalidSettings(f"unknown Google model {model!r}; choose one of {', '.join(MODELS)}",
                                  field_name="config.model")
        if settings.task == "translate":
            raise InvalidSettings("Google Speech-to-Text cannot translate; use task TRANSCRIBE", field_name="config.task")
        reason = missing_reason(self.opts)
        if reason:
            raise EngineUnavailable(f"Google engine unavailable: {reason}")
        settings.engine, settings.model = self.name, model
        settings.language = settings.language or self.opts.language
        return settings

    def _make_client(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            from google.cloud import speech_v1

            if self.opts.endpoint:
                import grpc
                from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

                channel = grpc.insecure_channel(self.opts.endpoint)
                self._client = speech_v1.SpeechClient(transport=SpeechGrpcTransport(channel=channel))
                log.info("Google Speech via insecure endpoint %s (anonymous credentials)", self.opts.endpoint)
            else:
                options = {"api_endpoint": self.opts.api_endpoint} if self.opts.api_endpoint else None
                try:
                    self._client = speech_v1.SpeechClient(client_options=options)
                except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and kin
                    raise EngineUnavailable(
                        f"Google credentials could not be loaded: {exc}. Set GOOGLE_APPLICATION_CREDENTIALS "
                        "to a service-account key file") from exc
            return self._client

    async def warm_up(self) -> None:
        if not missing_reason(self.opts):
            await asyncio.get_running_loop().run_in_executor(None, self._make_client)

    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        from .google_stream import GoogleStream

        client = await asyncio.get_running_loop().run_in_executor(None, self._make_client)
        timeout = max(600.0, 2 * self.opts.restart_seconds)
        return GoogleStream(client, settings, emit, settings.model, self.opts.restart_seconds, timeout,
                            idle_seconds=self.opts.idle_seconds)

    async def aclose(self) -> None:
        client = self._client
        if client is not None:
            try:
                client.transport.close()
            except Exception:
                pass
