"""The API keys file, shared by the core and every bridge, and the live set of keys read from it.

    # keys.toml
    [[key]]
    name = "web-app"                 # what logs and metrics call the key (never the secret)
    secret = "s3cr3t-for-web-app"    # the key itself ...
    max_sessions = 4                 # optional: concurrent streams with this key
    engines = ["whisper"]            # optional: engines this key may use
    max_stream_seconds = 600         # optional: audio per stream with this key

    [[key]]
    name = "partner"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # ... or its SHA-256 (hex)

`KeyRing.load(path)` reads the file; a malformed file raises `KeysFileError` naming the line.
`KeyRing.reload()` re-reads it (SIGHUP): a bad new file keeps the old keys and says why.
`KeyRing.find(secret)` looks a presented secret up in constant time per key.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FIELDS = {"name", "secret", "sha256", "max_sessions", "engines", "max_stream_seconds"}


class KeysFileError(ValueError):
    """The keys file cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: bytes  # digest of the secret: the secret itself is not kept
    max_sessions: int | None = None
    engines: tuple[str, ...] | None = None  # None = any engine
    max_stream_seconds: float | None = None

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.sha256, hashlib.sha256(secret.encode()).digest())


def _key_lines(text: str) -> list[int]:
    """The line number (1-based) of each `[[key]]` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*key\s*\]\]", line)]


def parse_keys(text: str, source: str = "<keys>") -> tuple[ApiKey, ...]:
    """Parse the keys file's text; raises KeysFileError naming `source` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeysFileError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - {"key"}
    if unknown:
        raise KeysFileError(f"{source}: unknown top-level entries {sorted(unknown)}; "
                            "the file holds only [[key]] tables")
    tables = data.get("key", [])
    if not isinstance(tables, list):
        raise KeysFileError(f"{source}: `key` must be a list of [[key]] tables")
    lines = _key_lines(text)
    keys: list[ApiKey] = []
    names: set[str] = set()
    digests: set[bytes] = set()
    for index, table in enumerate(tables):
        where = f"{source}:{lines[index] if index < len(lines) else '?'}"
        keys.append(_parse_key(table, where))
        if keys[-1].name in names:
            raise KeysFileError(f"{where}: a second key named {keys[-1].name!r}; names must be unique")
        if keys[-1].sha256 in digests:
            raise KeysFileError(f"{where}: key {keys[-1].name!r} has the same secret as an earlier key")
        names.add(keys[-1].name)
        digests.add(keys[-1].sha256)
    return tuple(keys)


def _parse_key(table: dict[str, Any], where: str) -> ApiKey:
    unknown = set(table) - FIELDS
    if unknown:
        raise KeysFileError(f"{where}: unknown field(s) {sorted(unknown)} in [[key]]; allowed: {sorted(FIELDS)}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise KeysFileError(f"{where}: [[key]] needs a non-empty `name`")
    if ("secret" in table) == ("sha256" in table):
        raise KeysFileError(f"{where}: key {name!r} needs exactly one of `secret` or `sha256`")
    if "secret" in table:
        secret = table["secret"]
        if not isinstance(secret, str) or len(secret) < 8:
            raise KeysFileError(f"{where}: key {name!r}: `secret` must be a string of at least 8 characters")
        digest = hashlib.sha256(secret.encode()).digest()
    else:
        hexed = table["sha256"]
        if not isinstance(hexed, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", hexed):
            raise KeysFileError(f"{where}: key {name!r}: `sha256` must be 64 hex digits "
                                "(e.g. the output of `printf %s SECRET | sha256sum`)")
        digest = bytes.fromhex(hexed)
    max_sessions = table.get("max_sessions")
    if max_sessions is not None and (not isinstance(max_sessions, int) or isinstance(max_sessions, bool)
                                     or max_sessions < 1):
        raise KeysFileError(f"{where}: key {name!r}: `max_sessions` must be a whole number >= 1")
    engines = table.get("engines")
    if engines is not None:
        if not isinstance(engines, list) or not engines or not all(isinstance(e, str) and e.strip() for e in engines):
            raise KeysFileError(f"{where}: key {name!r}: `engines` must be a non-empty list of engine names")
        engines = tuple(e.strip().lower() for e in engines)
    seconds = table.get("max_stream_seconds")
    if seconds is not None and (not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0):
        raise KeysFileError(f"{where}: key {name!r}: `max_stream_seconds` must be a number > 0")
    return ApiKey(name.strip(), digest, max_sessions, engines, float(seconds) if seconds is not None else None)


class KeyRing:
    """The keys of one file, swapped atomically on reload. An empty path means no keys (open)."""

    def __init__(self, keys: tuple[ApiKey, ...] = (), path: Path | None = None) -> None:
        self.path = path
        self._keys = keys
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None) -> "KeyRing":
        """Read `path` (empty/None = no keys). Raises KeysFileError with a clear message."""
        if not path:
            return cls()
        path = Path(path)
        return cls(_read(path), path)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        return self._keys

    def find(self, secret: str | None) -> ApiKey | None:
        if not secret:
            return None
        found = None
        for key in self._keys:  # no early exit: the time taken does not say which key matched
            if key.matches(secret):
                found = key
        return found

    def reload(self) -> bool:
        """Re-read the file; on error keep the current keys, log why and return False."""
        if self.path is None:
            return True
        try:
            keys = _read(self.path)
        except KeysFileError as exc:
            log.error("API keys not reloaded, the previous %d key(s) stay in force: %s", len(self._keys), exc)
            return False
        with self._lock:
            before = {k.name for k in self._keys}
            self._keys = keys
        after = {k.name for k in keys}
        log.info("API keys reloaded from %s: %d key(s); added %s, removed %s", self.path, len(keys),
                 sorted(after - before) or "none", sorted(before - after) or "none")
        return True


def _read(path: Path) -> tuple[ApiKey, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeysFileError(f"cannot read the API keys file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise KeysFileError(f"{path}: not UTF-8 text") from None
    keys = parse_keys(text, str(path))
    if not keys:
        raise KeysFileError(f"{path}: no [[key]] tables; with no keys every client would be refused")
    return keys


def presented_secret(authorization: str | None, x_api_key: str | None = None, query_key: str | None = None) -> str | None:
    """The secret a client presented: `Authorization: Bearer S` (or `Token S`), else `x-api-key: S`, else `api_key=S`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip():  # Token: Deepgram's scheme
            return value.strip()
    return (x_api_key or "").strip() or (query_key or "").strip() or None
