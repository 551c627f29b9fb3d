"""JFK's recording (tests/fixtures/real/jfk.flac, 11 s) encoded as clients send it: MP3, FLAC, Opus in
Ogg and in WebM (PyAV's encoders, through clients.audio.write_audio), and G.711 μ-law and A-law at
8 kHz (FFmpeg's pcm_mulaw/pcm_alaw, independent of the core's lookup tables).

Encoded once per PyAV version and cached under tests/fixtures/cache/ (gitignored).
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soxr

from clients.audio import write_audio
from tests.audio_fixtures import CACHE, SAMPLE_RATE
from tests.real_speech import load

CONTAINERS = {"FLAC": ".flac", "MP3": ".mp3", "OGG_OPUS": ".ogg", "WEBM_OPUS": ".webm"}
TELEPHONY_RATE = 8000


def jfk() -> np.ndarray:
    return load("jfk").audio


def jfk_file(encoding: str) -> Path:
    """JFK in the container of `encoding` (a key of CONTAINERS)."""
    path = CACHE / f"jfk-av{av.__version__}{CONTAINERS[encoding]}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("partial-" + path.name)
        write_audio(partial, jfk(), SAMPLE_RATE)
        partial.rename(path)
    return path


def jfk_g711(law: str) -> bytes:
    """JFK at 8 kHz in G.711 `law` ("MULAW" or "ALAW"), headerless: one byte per sample."""
    narrow = soxr.resample(jfk(), SAMPLE_RATE, TELEPHONY_RATE)
    pcm = (np.clip(narrow, -1.0, 1.0) * 32767.0).astype(np.int16)
    codec = av.CodecContext.create("pcm_mulaw" if law == "MULAW" else "pcm_alaw", "w")
    codec.sample_rate, codec.layout, codec.format = TELEPHONY_RATE, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.sample_rate = TELEPHONY_RATE
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
