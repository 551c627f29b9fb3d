"""What one session's end-of-session log line reports (bridges/session.py)."""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from bridges.endings import Ending


@dataclass
class SessionStats:
    frames_in: int = 0  # messages from the client
    bytes_in: int = 0
    audio_bytes: int = 0
    results: collections.Counter[str] = field(default_factory=collections.Counter)  # from the core, by kind
    messages_out: int = 0  # to the client
    errors_out: int = 0
    core: str = ""
    end: str = ""
    ending: Ending | None = None  # how the bridge ended the connection (None: the client did)
    started: float = field(default_factory=time.monotonic)

    def summary(self, dialect: str, session_id: str, core: str | None) -> str:
        """The fields of the `session_end` log line."""
        return (f"dialect={dialect} session={session_id} duration={time.monotonic() - self.started:.2f}s "
                f"frames_in={self.frames_in} bytes_in={self.bytes_in} audio_bytes={self.audio_bytes} "
                f"messages_out={self.messages_out} partials={self.results['partial']} "
                f"finals={self.results['final']} errors={self.errors_out} core={core or self.core or '-'} "
                f"close={self.ending.kind if self.ending else 'client'} end={self.end!r}")
