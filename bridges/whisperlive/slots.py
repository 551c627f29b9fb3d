"""Connection slots shared by one bridge process's connections (no I/O, event-loop thread only).

Dialects whose protocol says "server full" in their own words (rnnt's error, WhisperLive's WAIT
with an estimated wait) need to know who holds a slot and since when, at the moment a new client
asks, so this lives beside the codecs rather than in the socket layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Slots:
    capacity: int
    holders: dict[str, float] = field(default_factory=dict)  # key -> time the slot was taken

    def acquire(self, key: str, now: float) -> bool:
        """Take a slot for `key`; False when all `capacity` slots are held by others."""
        if key in self.holders:
            return True
        if len(self.holders) >= self.capacity:
            return False
        self.holders[key] = now
        return True

    def release(self, key: str) -> None:
        self.holders.pop(key, None)

    def soonest_free(self, now: float, max_hold: float) -> float:
        """Seconds until the first holder reaches `max_hold` (0 when a slot is free)."""
        if len(self.holders) < self.capacity:
            return 0.0
        return max(0.0, min(start + max_hold - now for start in self.holders.values()))
