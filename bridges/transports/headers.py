"""Request metadata as headers for the runtime's checks (bridges/auth.py reads `Authorization`,
`X-Api-Key`, `Origin`): gRPC metadata and a raw TCP dialect's credentials hook give plain pairs;
lookups are case-insensitive and the last value of a repeated name wins, as for HTTP headers."""
from __future__ import annotations

from typing import Iterable


class Headers(dict):
    def __init__(self, items: Iterable[tuple[str, object]] = ()) -> None:
        super().__init__({key.lower(): value for key, value in items if isinstance(value, str)})

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())
