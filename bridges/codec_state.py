"""States shared by the dialect codecs (each codec keeps its own transitions)."""
from __future__ import annotations

import enum


class RecordingState(enum.Enum):
    """A connection that carries recordings one after another (funasr, rnnt): start_recording,
    audio, stop_recording, then the core call finishes and the next recording may begin."""

    IDLE = "idle"  # no recording open
    STARTING = "starting"  # start_recording sent to the core, waiting for SessionStarted
    RECORDING = "recording"
    STOPPING = "stopping"  # end of audio sent, waiting for the core call to finish
    CLOSED = "closed"
