"""Google Application Default Credentials: found once per process, off the event loop.

`google.auth.default()` looks, in order, at GOOGLE_APPLICATION_CREDENTIALS (a service-account
key, an external-account or an impersonation file), gcloud's application-default file
(`gcloud auth application-default login`), App Engine, and the metadata server of GCE, GKE and
Cloud Run. The metadata check is a network call (up to GCE_METADATA_TIMEOUT seconds, 3 by
default, times GCE_METADATA_DETECT_RETRIES), so the engine runs it in a thread at start-up and
reports "checking" until it is done; `describe()` never waits for it.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
NONE_FOUND = ("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, "
              "run `gcloud auth application-default login`, or run on GCE/GKE/Cloud Run with a service "
              "account (metadata server); or set ASR_GOOGLE_ENDPOINT=host:port for an emulator")


@dataclass(frozen=True)
class FoundCredentials:
    credentials: Any  # google.auth.credentials.Credentials, None when not found
    source: str  # where they came from, for ListEngines ("" when not found)
    reason: str = ""  # why there are none, phrased as what to do ("" when found)


def gcloud_adc_file() -> Path:
    config_dir = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    return Path(config_dir) / "application_default_credentials.json"


def describe_source(credentials: Any, project: str | None) -> str:
    """Where `google.auth.default()` found `credentials`, in words."""
    module = type(credentials).__module__
    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if module.startswith("google.auth.compute_engine"):
        where = "the metadata server (GCE, GKE or Cloud Run service account)"
    elif module.startswith("google.auth.app_engine"):
        where = "App Engine"
    else:
        kind = {
            "google.oauth2.service_account": "service-account key",
            "google.oauth2.credentials": "user credentials",
            "google.auth.impersonated_credentials": "impersonated service account",
        }.get(module, "external account (workload identity federation)"
              if "external_account" in module or "identity_pool" in module or "aws" in module
              else type(credentials).__name__)
        where = (f"{kind} from GOOGLE_APPLICATION_CREDENTIALS={key_file}" if key_file
                 else f"{kind} from gcloud's application-default file {gcloud_adc_file()}")
    return f"{where}, project {project}" if project else where


def find_credentials() -> FoundCredentials:
    """Application Default Credentials, or the reason there are none. Blocking (network on GCE)."""
    try:
        import google.auth
        from google.auth import exceptions
    except ImportError:
        return FoundCredentials(None, "", "google-auth is not installed: pip install '.[google]'")
    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if key_file and not Path(key_file).is_file():
        return FoundCredentials(None, "", f"GOOGLE_APPLICATION_CREDENTIALS={key_file} does not exist")
    try:
        credentials, project = google.auth.default(scopes=SCOPES)
    except exceptions.DefaultCredentialsError as exc:
        if key_file:
            return FoundCredentials(None, "", f"GOOGLE_APPLICATION_CREDENTIALS={key_file} is not usable: {exc}")
        return FoundCredentials(None, "", NONE_FOUND)
    except Exception as exc:  # a malformed file, a broken transport: say it, never crash the server
        return FoundCredentials(None, "", f"Google credentials could not be loaded: {exc}")
    source = describe_source(credentials, project)
    log.info("Google credentials: %s", source)
    return FoundCredentials(credentials, source)


class CredentialsLookup:
    """`find_credentials()` run once in a daemon thread; results read without blocking."""

    def __init__(self) -> None:
        self.future: Future[FoundCredentials] = Future()
        threading.Thread(target=self._run, name="google-credentials", daemon=True).start()

    def _run(self) -> None:
        try:
            self.future.set_result(find_credentials())
        except BaseException as exc:  # never leave the future pending
            self.future.set_result(FoundCredentials(None, "", f"Google credentials lookup failed: {exc}"))

    def peek(self) -> FoundCredentials | None:
        """The result if the lookup is done, else None (never blocks)."""
        return self.future.result() if self.future.done() else None

    def wait(self, timeout: float) -> FoundCredentials:
        try:
            return self.future.result(timeout=timeout)
        except TimeoutError:
            return FoundCredentials(None, "", f"Google credentials lookup still running after {timeout:.0f} s "
                                               "(metadata server not answering?)")
