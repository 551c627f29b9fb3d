"""The dialects this package serves, by module name (bridges/<name>/ holds each one's SPEC)."""
from __future__ import annotations

import importlib
import importlib.util

from bridges.runtime import DialectSpec

NAMES = ("google_stt", "nexa", "funasr", "rnnt", "whisperlive", "google_speech", "deepgram", "wyoming",
         "vosk", "openai")


def installed(names: tuple[str, ...] = NAMES) -> list[DialectSpec]:
    """The SPEC of every named dialect whose module is present, in order."""
    return [importlib.import_module(f"bridges.{name}").SPEC for name in names
            if importlib.util.find_spec(f"bridges.{name}") is not None]
