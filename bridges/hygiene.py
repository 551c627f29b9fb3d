"""Hygiene at the edge of every bridge: client ids, escaped logging, error ids, public error text.

Rules (docs/limits.md):
- A client-chosen id (rnnt `client_id`, whisperlive `uid`, funasr's `{client_id}` path segment)
  is 1-128 characters from RFC 3986's unreserved set: letters, digits, `-`, `_`, `.`, `~`.
- Any session id a bridge forwards to the core follows the core's rule (`fit_session_id`:
  1-128 of `A-Z a-z 0-9 . _ - : @`, other characters replaced and a hash added).
- Client values are logged escaped (`escaped`): no control characters or newlines reach a log.
- Messages to clients never carry server paths, core addresses or raw exception text: an
  internal problem is described by a short error id (`new_error_id`) that the bridge's log
  line repeats with the details. A core that cannot be reached is "the recognition service is
  unavailable; retry in N s": gRPC's own words for it name the core's address.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import replace

from asr_common.contract import SESSION_ID as CORE_SESSION_ID
from asr_common.contract import SESSION_ID_MAX
from asr_common.redact import scrub
from bridges.codec import CoreError

CLIENT_ID_MAX = 128
CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,%d}$" % CLIENT_ID_MAX)
CLIENT_ID_RULE = f"1-{CLIENT_ID_MAX} characters from letters, digits, '-', '_', '.', '~' (a UUID works)"

# Core status codes whose message is written for the client (validation, limits, busy, shutdown).
CLIENT_FACING_CODES = frozenset({"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "OUT_OF_RANGE", "DEADLINE_EXCEEDED",
                                 "FAILED_PRECONDITION", "UNAVAILABLE"})
UNAVAILABLE_RETRY_SECONDS = 5  # "retry in N s" when the core could not be reached (the bridges' Retry-After)


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


def public_core_error(error: CoreError, error_id: str) -> CoreError:
    """The core error as a client may see it: its own words for client-facing codes (scrubbed),
    "internal error" otherwise, always with the error id that the bridge's log line carries."""
    if error.code == "UNAVAILABLE":
        message = unavailable_message(error)
    elif error.code in CLIENT_FACING_CODES and error.message:
        message = scrub(error.message)
    else:
        message = "internal error in the speech-recognition service"
    violations = tuple((field, scrub(desc)) for field, desc in error.field_violations)
    return replace(error, message=f"{message} (error id {error_id})", field_violations=violations)


def unavailable_message(error: CoreError) -> str:
    """UNAVAILABLE in the client's words. gRPC's own message for a core it cannot reach names the
    core's address ("failed to connect to all addresses; last error: ... ipv4:10.0.0.7:50051:
    Connection refused"), so it is not repeated; the core's own reason (it is shutting down) is."""
    wait = max(1, math.ceil(error.retry_after)) if error.retry_after else UNAVAILABLE_RETRY_SECONDS
    own = f" ({scrub(error.message)})" if error.reason and error.message else ""
    return f"the recognition service is unavailable{own}; retry in {wait} s"
