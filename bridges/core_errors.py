"""Core errors in the client's words: a sentence saying what to do, and the close code to end with.

Used by the dialects whose documents have no error codes of their own (google_stt, nexa);
rnnt, funasr and whisperlive word errors in their documents' own vocabulary.
"""
from __future__ import annotations

from bridges.codec import CoreError

BUSY_CODES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})  # retry later: close 1013
CLIENT_FAULT_CODES = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"})  # close 1008


def describe_core_error(error: CoreError) -> str:
    """One human sentence for a core error, with what to do about it."""
    if error.code == "UNAVAILABLE":  # already the whole sentence (bridges/hygiene.py), error id included
        return error.message
    if error.code == "RESOURCE_EXHAUSTED":
        wait = f" in {error.retry_after:.0f} s" if error.retry_after else " later"
        return f"speech recognition service is busy ({error.message}); retry{wait}"
    if error.field_violations:
        return "; ".join(desc if field in desc else f"{field}: {desc}" for field, desc in error.field_violations)
    return error.message or error.code


def close_code_for(error: CoreError) -> int:
    """The WebSocket close code: busy or down 1013, the client's own mistake 1008, else 1011."""
    if error.code in BUSY_CODES:
        return 1013
    return 1008 if error.code in CLIENT_FAULT_CODES else 1011
