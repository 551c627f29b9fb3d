"""CPU cost per 100 ms chunk of the work every session does before any decode: Silero VAD on the
chunk's 16 kHz audio, and soxr resampling of client audio at 8, 44.1 and 48 kHz to 16 kHz (what
`core_service.audio.AudioDecoder` does). Prints the median microseconds per chunk over a few
seconds of speech; it runs in seconds.

    python -m bench.chunk_cost [--seconds 20]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Callable

import numpy as np

from core_service.audio import AudioDecoder
from core_service.vad import SileroVad
from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, speech

log = logging.getLogger("bench.chunk_cost")
CHUNK_SECONDS = 0.1


def median_us(chunks: list, work: Callable[[object], object]) -> float:
    times = []
    for chunk in chunks:
        t0 = time.perf_counter()
        work(chunk)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def chunked(audio: np.ndarray, rate: int) -> list:
    step = int(rate * CHUNK_SECONDS)
    return [audio[i:i + step] for i in range(0, len(audio) - step + 1, step)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of speech to measure over")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    audio = speech(PARAGRAPH)
    while len(audio) < args.seconds * SAMPLE_RATE:
        audio = np.concatenate([audio, audio])
    audio = audio[:int(args.seconds * SAMPLE_RATE)]

    vad = SileroVad.shared().stream()
    log.info("VAD (Silero, ONNX Runtime): %.0f µs per 100 ms chunk", median_us(chunked(audio, SAMPLE_RATE),
                                                                              vad.probabilities))
    for rate in (8000, 44100, 48000):
        pcm = (np.interp(np.arange(int(len(audio) * rate / SAMPLE_RATE)) * SAMPLE_RATE / rate,
                         np.arange(len(audio)), audio) * 32767).astype("<i2")
        decoder = AudioDecoder("LINEAR16", rate, 1)
        chunks = [c.tobytes() for c in chunked(pcm, rate)]
        log.info("resampling %5d Hz -> 16 kHz (soxr HQ, LINEAR16): %.0f µs per 100 ms chunk", rate,
                 median_us(chunks, decoder.decode))


if __name__ == "__main__":
    main()
