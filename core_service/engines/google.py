"""Google Cloud Speech-to-Text v1 streaming (`google-cloud-speech`, `SpeechClient.streaming_recognize`).

One SpeechClient (one gRPC channel) is shared by every session; each session is a chain of
Google streams (see google_stream.py) that hides Google's ~5-minute stream limit.

Environment (keyword arguments of `GoogleEngine` override them):
  GOOGLE_APPLICATION_CREDENTIALS  credentials file (Google's own variable). Credentials are
                                  Application Default Credentials (`google.auth.default()`): this
                                  file, else gcloud's application-default file, else the metadata
                                  server on GCE, GKE and Cloud Run; ListEngines names the source
  ASR_GOOGLE_ENDPOINT             host:port of a Speech API emulator or test server: insecure
                                  channel, anonymous credentials (no Google account needed)
  ASR_GOOGLE_API_ENDPOINT         a TLS endpoint instead of speech.googleapis.com
                                  (e.g. eu-speech.googleapis.com)
  ASR_GOOGLE_LANGUAGE             language when the session names none, default en-US
  ASR_GOOGLE_MODEL                Google model when the session names none, default "default"
  ASR_GOOGLE_RESTART_SECONDS      audio budget of one Google stream (re-sent backlog included),
                                  default 290 (Google fails streams past 305 s)
  ASR_GOOGLE_STREAM_LIFE_SECONDS  longest wall-clock life of one Google stream, default 290
  ASR_GOOGLE_MAX_BACKLOG_SECONDS  unfinalized audio re-sent to a restarted stream, default 30 (older
                                  audio without a final is silence to Google); below RESTART_SECONDS
  ASR_GOOGLE_CALL_TIMEOUT_SECONDS deadline of one Google streaming call, default 600
  ASR_GOOGLE_IDLE_SECONDS         half-close the Google stream when the client sends no audio for
                                  this long, default 5 (Google fails a stream after ~10 s without audio)
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import (Capabilities, Emit, Engine, EngineDescription, EngineStream, EngineUnavailable, InvalidSettings,
                   ModelDescription, SessionSettings)
from .env_options import EnvOptions
from .google_credentials import CredentialsLookup, FoundCredentials
from .google_stream import GoogleStream

log = logging.getLogger(__name__)

MODELS = ("default", "latest_long", "latest_short", "command_and_search", "phone_call", "video",
          "medical_dictation", "medical_conversation")


@dataclass
class GoogleOptions(EnvOptions):
    ENV_PREFIX: ClassVar[str] = "ASR_GOOGLE"
    endpoint: str = ""  # insecure host:port (emulator, tests)
    api_endpoint: str = ""  # TLS endpoint override
    language: str = "en-US"
    model: str = "default"
    restart_seconds: float = 290.0
    stream_life_seconds: float = 290.0
    idle_seconds: float = 5.0
    max_backlog_seconds: float = 30.0
    call_timeout_seconds: float = 600.0
    # how long a session waits for the credentials lookup, and the first describe() waits for it
    credentials_wait_seconds: float = field(default=15.0, metadata={"env": False})
    first_describe_wait_seconds: float = field(default=0.3, metadata={"env": False})

    def check(self) -> None:
        if not 0 < self.restart_seconds <= 300 or not 0 < self.stream_life_seconds <= 300:
            raise ValueError("ASR_GOOGLE_RESTART_SECONDS and ASR_GOOGLE_STREAM_LIFE_SECONDS must be in (0, 300]: "
                             "Google fails streams past 305 s")
        if not 0 <= self.max_backlog_seconds < self.restart_seconds:
            raise ValueError("ASR_GOOGLE_MAX_BACKLOG_SECONDS must be at least 0 and below ASR_GOOGLE_RESTART_SECONDS, "
                             "so that every Google stream has room for new audio")


def missing_reason(opts: GoogleOptions, found: FoundCredentials | None) -> str:
    """Why the engine cannot serve (empty when it can), phrased as what to do. Cheap: no network.
    `found` is the credentials lookup's result, None while it runs."""
    if importlib.util.find_spec("google.cloud.speech_v1") is None:
        return "google-cloud-speech is not installed: pip install '.[google]' (make install does)"
    if opts.endpoint:
        return ""
    if found is None:
        return CHECKING
    return found.reason


CHECKING = "looking for Google Application Default Credentials (metadata server check in progress)"


class GoogleEngine(Engine):
    name = "google"
    aliases = ("google-cloud-speech", "gcp")

    def __init__(self, **overrides: Any):
        self.opts = GoogleOptions.from_env(**overrides)
        self._client: Any = None
        self._lock = threading.Lock()
        installed = importlib.util.find_spec("google.cloud.speech_v1") is not None
        self._credentials = CredentialsLookup() if installed and not self.opts.endpoint else None
        self._described = False

    def _found(self) -> FoundCredentials | None:
        if self._credentials is None:
            return None
        if not self._described:  # the first look waits a moment: key files are found in milliseconds
            self._described = True
            concurrent.futures.wait([self._credentials.future], timeout=self.opts.first_describe_wait_seconds)
        return self._credentials.peek()

    def describe(self) -> EngineDescription:
        found = self._found()
        reason = missing_reason(self.opts, found)
        if self.opts.endpoint:
            source = f"emulator at {self.opts.endpoint} (anonymous credentials)"
        else:
            source = self.opts.api_endpoint or "speech.googleapis.com"
            if found is not None and found.credentials is not None:
                source += f"; credentials: {found.source}"
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
                hotwords=True,  # speech adaptation phrases (SpeechContext)
            ),
            models=models, default_model=self.opts.model, available=not reason, unavailable_reason=reason,
        )

    def use_default_model(self, model: str) -> None:
        self.opts.model = self._model(model)

    @staticmethod
    def _model(model: str) -> str:
        if model not in MODELS:
            raise InvalidSettings(f"unknown Google model {model!r}; choose one of {', '.join(MODELS)}",
                                  field_name="config.model")
        return model

    def resolve(self, settings: SessionSettings) -> SessionSettings:
        reason = missing_reason(self.opts, self._found())
        return self.transcribing(settings, model=self._model(settings.model or self.opts.model),
                                 default_language=self.opts.language, title="Google Speech-to-Text",
                                 unavailable="" if reason == CHECKING else reason)  # open_stream waits for it

    def _make_client(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            from google.cloud import speech_v1

            if self.opts.endpoint:
                import grpc
                from google.cloud.speech_v1.services.speech.transports import (
                    SpeechGrpcTransport,
                )

                channel = grpc.insecure_channel(self.opts.endpoint)
                self._client = speech_v1.SpeechClient(transport=SpeechGrpcTransport(channel=channel))
                log.info("Google Speech via insecure endpoint %s (anonymous credentials)", self.opts.endpoint)
            else:
                found = self._credentials.wait(self.opts.credentials_wait_seconds)
                if found.credentials is None:
                    raise EngineUnavailable(f"Google engine unavailable: {found.reason}")
                options = {"api_endpoint": self.opts.api_endpoint} if self.opts.api_endpoint else None
                self._client = speech_v1.SpeechClient(credentials=found.credentials, client_options=options)
                log.info("Google Speech at %s; credentials: %s", self.opts.api_endpoint or "speech.googleapis.com",
                         found.source)
            return self._client

    async def warm_up(self) -> None:
        if missing_reason(self.opts, self._found()) in ("", CHECKING):
            await asyncio.get_running_loop().run_in_executor(None, self._make_client)

    async def open_stream(self, settings: SessionSettings, emit: Emit) -> EngineStream:
        client = await asyncio.get_running_loop().run_in_executor(None, self._make_client)
        timeout = max(self.opts.call_timeout_seconds, 2 * self.opts.stream_life_seconds)
        return GoogleStream(client, settings, emit, settings.model, self.opts.restart_seconds, timeout,
                            stream_life_seconds=self.opts.stream_life_seconds,
                            idle_seconds=self.opts.idle_seconds, max_backlog_seconds=self.opts.max_backlog_seconds)

    async def aclose(self) -> None:
        client = self._client
        if client is not None:
            try:
                client.transport.close()
            except Exception:
                pass
