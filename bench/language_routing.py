"""Language routing on real speech: a real English speaker, a real speaker of another language,
English again, in one stream with no language and no model, streamed in real time.

For each recording in tests/fixtures/real/languages/ it prints the languages the finals were
tagged with, the other language's error rate (WER on folded words; characters for Japanese)
beside offline faster-whisper base on the recording alone, whether the English finals are the
ones the two English recordings get streamed alone, and the final latency of the other language's utterances.

    python -m bench.language_routing [--recordings NAME,...] [--fast]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import time

import grpc
import numpy as np
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.audio_fixtures import SAMPLE_RATE, silence, to_pcm16
from tests.real_speech import (CHUNK_SAMPLES, language_error_rate, language_recording_names, load,
                               load_language)

from .common import pct, save, start_core

log = logging.getLogger("bench.language_routing")
PAUSE = 1.5


async def stream(address: str, audio: np.ndarray, realtime: bool) -> list[tuple[float, asr_pb2.RecognitionResult]]:
    """(arrival time from the stream's start, final) for each final of `audio`."""
    pcm, step = to_pcm16(audio), CHUNK_SAMPLES * 2
    finals: list[tuple[float, asr_pb2.RecognitionResult]] = []
    t0 = time.monotonic()

    async def requests():
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(interim_results=True))
        for i in range(0, len(pcm), step):
            if realtime:
                await asyncio.sleep(max(0.0, t0 + (i + step) / 2 / SAMPLE_RATE - time.monotonic()))
            yield asr_pb2.RecognizeRequest(audio=pcm[i:i + step])

    async with grpc.aio.insecure_channel(address) as channel:
        async for response in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests(), timeout=600):
            if response.WhichOneof("response") == "result" and response.result.is_final and response.result.text.strip():
                finals.append((time.monotonic() - t0, response.result))
    return finals


def end_seconds(result: asr_pb2.RecognitionResult) -> float:
    return result.end_offset.seconds + result.end_offset.nanos / 1e9



async def measure(address: str, names: list[str], realtime: bool) -> list[dict]:
    from tests.real_speech import offline_transcript

    before, after = load("jfk"), load("librispeech_61-70968-0000")
    alone = []
    for recording in (before, after):
        alone += [r.text for _, r in await stream(address, np.concatenate([silence(0.3), recording.audio,
                                                                            silence(PAUSE)]), realtime)]
    rows = []
    for name in names:
        other = load_language(name)
        audio = np.concatenate([silence(0.3), before.audio, silence(PAUSE), other.audio, silence(PAUSE),
                                after.audio, silence(PAUSE)])
        routed = await stream(address, audio, realtime)
        spoken = " ".join(r.text for _, r in routed if r.language == other.language)
        english = [r.text for _, r in routed if r.language == "en"]
        latency = [t - end_seconds(r) for t, r in routed if r.language == other.language] if realtime else []
        rows.append({
            "recording": name, "language": other.language,
            "tags": [r.language for _, r in routed],
            "error": language_error_rate(other, spoken),
            "offline_error": language_error_rate(other, offline_transcript(other.audio, "base")),
            "english_unchanged": english == alone,
            "final_latency_p50": pct(latency, 50) if latency else None,
        })
        log.info("%s: %s", name, rows[-1])
    return rows


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", default=",".join(language_recording_names()))
    parser.add_argument("--fast", action="store_true", help="stream as fast as possible instead of in real time")
    args = parser.parse_args()
    core = start_core(50094)
    try:
        rows = asyncio.run(measure("127.0.0.1:50094", args.recordings.split(","), not args.fast))
    finally:
        core.terminate()
        core.wait()
    print(f"language routing on real speech (JFK, the recording, LibriSpeech; {'fast' if args.fast else 'real time'})")
    print(f"{'recording':34}{'tags':>34}{'error':>8}{'offline':>9}{'English same':>14}{'final p50':>11}")
    for r in rows:
        tags = ">".join(t for i, t in enumerate(r["tags"]) if i == 0 or t != r["tags"][i - 1])
        lat = f"{r['final_latency_p50'] * 1000:.0f} ms" if r["final_latency_p50"] is not None else "-"
        print(f"{r['recording']:34}{tags:>34}{r['error']:>8.3f}{r['offline_error']:>9.3f}"
              f"{str(r['english_unchanged']):>14}{lat:>11}")
    print(f"  saved {save('language-routing' + ('-fast' if args.fast else ''), {'rows': rows})}")


if __name__ == "__main__":
    main()
