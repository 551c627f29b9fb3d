"""A bridge's limits, declared once: each field is its flag, its help and its default.

`Limits` is built from the command line by `from_options` and handed unchanged to the pump
(bridges/session.py) and the transport's server (bridges/transport.py `ServerSetup`); a
dialect changes only the defaults (`DialectSpec.limits`). A dialect with limits of its own
(rnnt's per-recording limit, whisperlive's `--max-clients`) declares them as its own frozen
dataclass in the same style (`DialectSpec.settings`): `add_flags` and `from_options` work for
any such dataclass, as `ServerConfig.from_args` does for the core (core_service/config.py).

Field metadata: `help` (required), `flag` (default `--field-name`), `off` (True: 0 on the
command line means "no limit", stored as None). Units are in the names (`_bytes`, `_seconds`)
or the help. Every limit is documented in docs/limits.md.
"""
from __future__ import annotations

import argparse
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

T = TypeVar("T")


def limit(default: Any, help: str, *, off: bool = False, flag: str | None = None) -> Any:
    """A dataclass field that is also a command-line flag."""
    return field(default=default, metadata={"help": help, "off": off, "flag": flag})


@dataclass(frozen=True)
class Limits:
    max_connections: int = limit(100, "open connections of this bridge; more are refused before the session "
                                      "(WebSocket/HTTP: 503 + Retry-After)")
    max_connections_per_client: int = limit(16, "open connections per client IP address; more are refused "
                                                 "before the session (503 + Retry-After)")
    max_message_bytes: int = limit(1024 * 1024, "largest client message; a larger one gets the dialect's error")
    max_session_seconds: float | None = limit(3600.0, "seconds a connection may last (0 = no limit)", off=True)
    idle_timeout: float | None = limit(30.0, "seconds without a client message before the dialect's idle "
                                             "handling (0 = none)", off=True)
    drain_grace: float = limit(30.0, "seconds a finishing session may wait for its last results")
    send_timeout: float = limit(15.0, "seconds a message may wait for a client that does not read before the "
                                      "connection is closed and its core stream cancelled")
    close_timeout: float = limit(2.0, "seconds the close of a connection may take before it is dropped")
    socket_send_buffer_bytes: int = limit(256 * 1024, "kernel send buffer per connection (SO_SNDBUF; 0 = the "
                                                      "kernel's autotuning); bounds what a client that does not "
                                                      "read holds, so the send timeout notices it")
    transport_queue: int = limit(4, "client messages the transport buffers per connection before it stops "
                                    "reading the socket")

    @property
    def backstop_bytes(self) -> int:
        """The transport's own size limit: twice the dialect's plus 64 KiB. Messages between the two
        reach the codec (its own error shape); larger ones are refused by the transport itself."""
        return 2 * self.max_message_bytes + 64 * 1024


def _flag(f: Any) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser, defaults: Any, title: str) -> None:
    """One flag per field of the dataclass instance `defaults` (its values are the defaults)."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(type(defaults))
    for f in fields(defaults):
        if "help" not in f.metadata:
            continue
        default = getattr(defaults, f.name)
        kind = _scalar(hints[f.name])
        if kind is bool:
            group.add_argument(_flag(f), dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                               help=f.metadata["help"] + " (default: %(default)s)")
            continue
        shown = 0 if default is None and f.metadata.get("off") else default
        group.add_argument(_flag(f), dest=f.name, type=kind, default=shown,
                           help=f.metadata["help"].replace("%", "%%") + " (default: %(default)s)")


def from_options(defaults: T, options: argparse.Namespace) -> T:
    """`defaults` (a dataclass instance) with the values of its parsed flags (a field without a
    flag keeps its value)."""
    values = {}
    for f in fields(defaults):  # type: ignore[arg-type]
        if "help" not in f.metadata or not hasattr(options, f.name):
            continue
        value = getattr(options, f.name)
        values[f.name] = None if f.metadata.get("off") and not value else value
    return replace(defaults, **values)


def _scalar(hint: Any) -> type:
    """int, float, bool or str from a field's type (`float | None` is float)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return base if base in (int, float, bool, str) else str


__all__ = ["Limits", "add_flags", "from_options", "limit"]
