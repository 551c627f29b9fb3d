"""Hygiene at the edge of every bridge: client ids, escaped logging, error ids, public error text.

Rules (docs/limits.md):
- A client-chosen id (rnnt `client_id`, whisperlive `uid`, funasr's `{client_id}` path segment)
  is 1-128 characters from RFC 3986's unreserved set: letters, digits, `-`, `_`, `.`, `~`.
- Any session id a bridge forwards to the core follows the core's rule (`fit_session_id`:
  1-128 of `A-Z a-z 0-9 . _ - : @`, other characters replaced and a hash added).
- Client values are logged escaped (`escaped`): no control characters or newlines reach a log.
- Messages to clients never carry server paths, core addresses or raw exception text
  (asr_common.redact `scrub`): an internal problem is described by a short error id
  (`new_error_id`) that the bridge's log line repeats with the details (core errors:
  bridges/faults.py).
"""
from __future__ import annotations

import hashlib
import re

from asr_common.contract import SESSION_ID as CORE_SESSION_ID
from asr_common.contract import SESSION_ID_MAX

CLIENT_ID_MAX = 128
CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,%d}$" % CLIENT_ID_MAX)
CLIENT_ID_RULE = f"1-{CLIENT_ID_MAX} characters from letters, digits, '-', '_', '.', '~' (a UUID works)"


def valid_client_id(value: str) -> bool:
    return bool(CLIENT_ID.match(value))


def escaped(value: object, limit: int = 160) -> str:
    """A client value made safe for one log line: printable ASCII, quoted, cut at `limit`."""
    text = ascii(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[:limit] + "...'"


def fit_session_id(session_id: str) -> str:
    """`session_id` when the core accepts it as is (1-128 of `A-Z a-z 0-9 . _ - : @`); else the
    id with other characters made `_`, cut to fit, plus a hash of the original (so two ids that
    differ only where they were changed or cut still differ)."""
    if CORE_SESSION_ID.match(session_id):
        return session_id
    digest = hashlib.sha256(session_id.encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._:@-]", "_", session_id)
    return f"{safe[:SESSION_ID_MAX - len(digest) - 1]}-{digest}"
