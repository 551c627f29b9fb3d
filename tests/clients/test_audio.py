"""Audio files → 16 kHz mono s16 chunks with PyAV (no server needed)."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from clients.audio import AudioFileError, iter_pcm16, paced, probe, read_chunks, write_audio
from tests.audio_fixtures import UTTERANCES, speech


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return speech(UTTERANCES[0])


def _decoded(path, **kw) -> np.ndarray:
    return np.frombuffer(b"".join(iter_pcm16(path, **kw)), dtype="<i2").astype(np.float32) / 32768.0


@pytest.mark.parametrize("ext, lossless", [("wav", True), ("flac", True), ("mp3", False), ("ogg", False)])
def test_round_trip_each_format(tmp_path, clip, ext, lossless):
    path = write_audio(tmp_path / f"clip.{ext}", clip)
    assert probe(path) == pytest.approx(len(clip) / 16000, abs=0.1)
    got = _decoded(path)
    # Lossy codecs pad or trim a few ms at the edges; the speech itself must survive.
    assert abs(len(got) - len(clip)) < 0.1 * 16000
    n = min(len(got), len(clip))
    if lossless:
        assert np.max(np.abs(got[:n] - np.clip(clip[:n], -1, 1))) < 2e-4
    else:
        # Align for encoder delay, then the waveforms must correlate strongly.
        lag = int(np.argmax(np.correlate(got[:16000], clip[:4000], mode="valid"))) if len(got) > 16000 else 0
        a, b = got[lag:lag + n - 2000], clip[: n - 2000]
        m = min(len(a), len(b))
        assert np.corrcoef(a[:m], b[:m])[0, 1] > 0.9


def test_resamples_and_downmixes(tmp_path, clip):
    import av

    # A 44.1 kHz stereo file with the clip on the left channel only.
    import soxr

    left = soxr.resample(clip, 16000, 44100).astype(np.float32)
    stereo = np.stack([left, np.zeros_like(left)])
    path = tmp_path / "stereo.wav"
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray((stereo * 32767).astype(np.int16).T.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = 44100
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    got = _decoded(path)
    assert len(got) == pytest.approx(len(clip), abs=160)
    n = min(len(got), len(clip))
    # Downmixing halves a one-sided signal or keeps it (FFmpeg's choice); the shape must match.
    assert np.corrcoef(got[:n], clip[:n])[0, 1] > 0.98


def test_chunks_are_exact_and_even(tmp_path, clip):
    path = write_audio(tmp_path / "clip.wav", clip)
    chunks = list(iter_pcm16(path, chunk_ms=40))
    assert all(len(c) == 16000 * 40 // 1000 * 2 for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 1280 and len(chunks[-1]) % 2 == 0
    assert sum(map(len, chunks)) == len(clip) * 2


def test_bad_files_raise_audio_file_error(tmp_path):
    with pytest.raises(AudioFileError, match="no such file"):
        probe(tmp_path / "missing.wav")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio" * 10)
    with pytest.raises(AudioFileError):
        probe(junk)
    with pytest.raises(AudioFileError, match="cannot write"):
        write_audio(tmp_path / "clip.xyz", np.zeros(160, dtype=np.float32))


async def test_read_chunks_realtime_paces_at_audio_speed(tmp_path):
    path = write_audio(tmp_path / "tone.wav", 0.1 * np.sin(np.arange(12000) / 10).astype(np.float32))  # 0.75 s
    start = time.monotonic()
    fast = [c async for c in read_chunks(path)]
    fast_elapsed = time.monotonic() - start
    start = time.monotonic()
    slow = [c async for c in read_chunks(path, realtime=True)]
    slow_elapsed = time.monotonic() - start
    assert fast == slow
    # the paced read takes at least the audio's duration; the other does not wait for it
    # (no upper bounds on wall time: a busy machine is slow, not wrong)
    assert slow_elapsed >= 0.7
    assert fast_elapsed < slow_elapsed


async def test_paced_releases_chunks_on_the_audio_clock():
    async def source():
        for _ in range(5):
            yield b"\0" * 3200  # 100 ms each at 16 kHz s16

    loop = asyncio.get_running_loop()
    start = loop.time()
    times = [loop.time() - start async for _ in paced(source(), 32000)]
    for i, t in enumerate(times):
        assert t >= 0.1 * (i + 1) - 0.01
    assert times[-1] < 5.0  # a generous deadline: released on the audio clock, not held back
