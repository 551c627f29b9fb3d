"""Logging set-up shared by the core and the bridges: `--log-format text|json`.

JSON is one object per line with `time` (UTC, ISO 8601), `level`, `logger`, `message` and
`session` (the session id of the call or connection being served, when there is one), plus
`exception` when there is a traceback. The session id travels in a context variable: the gRPC
interceptor (core) and the bridge's connection handler set it, and every log record made in that
call's task, or in tasks it starts, carries it.
"""
from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys

SESSION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("session_id", default="")

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "session", ""):
            record.session = SESSION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "session": getattr(record, "session", "") or SESSION_ID.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", text_format: str = TEXT_FORMAT) -> None:
    """Root logging to stderr in `fmt` ("text" or "json")."""
    if fmt not in FORMATS:
        raise SystemExit(f"--log-format {fmt!r}: choose one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_SessionFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(text_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
