"""The cost of live speaker diarization: CPU per audio second and final latency with it off and
on, 1 and 4 real-time streams, side by side in one run, and the diarization error rate of each case.

Each stream sends one of the dialogues of real people (tests/dialogues.py; the streams of a load
cycle through them) at real-time pace in 100 ms chunks over gRPC, with word times on in both
configurations (the diarizer asks the engine for them anyway, so only the diarizer differs).
  CPU           = the core process's CPU seconds per second of audio served (all streams)
  final latency = arrival of a final - send time of the chunk holding its end
  DER           = bench/der.py on the finals' words (diarization on only)
One core serves every load, warmed up first with one stream of each configuration.

    python -m bench.diarization [--streams 1 4] [--cases 3]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import time

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.audio_fixtures import SAMPLE_RATE, to_pcm16
from tests.conftest import free_port
from tests.dialogues import Dialogue, three_speakers, two_speakers_kennedy_and_sonnets, two_speakers_reader_and_cards

from .common import process_cpu_seconds, save, start_core, summary
from .der import der, segments_from_words

log = logging.getLogger("bench.diarization")
CHUNK_SECONDS = 0.1
CASES = (two_speakers_reader_and_cards, two_speakers_kennedy_and_sonnets, three_speakers)


def secs(d) -> float:
    return d.seconds + d.nanos / 1e9


async def stream(address: str, dialogue: Dialogue, diarize: bool) -> dict:
    pcm = to_pcm16(dialogue.audio)
    step = int(2 * SAMPLE_RATE * CHUNK_SECONDS)
    chunks = [pcm[i:i + step] for i in range(0, len(pcm), step)]
    t0 = 0.0
    latencies, words = [], []

    async def requests():
        nonlocal t0
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(
            interim_results=True, enable_word_time_offsets=True,
            diarization=asr_pb2.DiarizationConfig(enable=diarize)))
        t0 = time.monotonic()
        for i, chunk in enumerate(chunks):
            await asyncio.sleep(max(0.0, t0 + i * CHUNK_SECONDS - time.monotonic()))
            yield asr_pb2.RecognizeRequest(audio=chunk)

    async with grpc.aio.insecure_channel(address) as channel:
        async for response in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests(), timeout=300):
            if response.WhichOneof("response") == "result" and response.result.is_final:
                r = response.result
                sent = t0 + int(secs(r.end_offset) / CHUNK_SECONDS) * CHUNK_SECONDS
                latencies.append(time.monotonic() - sent)
                words += [(secs(w.start_offset), secs(w.end_offset), w.speaker) for w in r.words]
    rate = der(list(dialogue.reference), segments_from_words(words)).rate if diarize else None
    return {"case": dialogue.name, "latencies": latencies, "der": rate,
            "speakers": len({w[2] for w in words if w[2]}), "reference_speakers": dialogue.speakers}


async def load(address: str, pid: int, dialogues: list[Dialogue], diarize: bool) -> dict:
    cpu0 = process_cpu_seconds(pid)
    runs = await asyncio.gather(*(stream(address, d, diarize) for d in dialogues))
    cpu = process_cpu_seconds(pid) - cpu0
    audio = sum(d.seconds for d in dialogues)
    return {"diarization": diarize, "streams": len(dialogues), "cpu_per_audio_second": cpu / audio,
            "final_latency": summary([x for r in runs for x in r["latencies"]]),
            "cases": [{k: r[k] for k in ("case", "der", "speakers", "reference_speakers")} for r in runs]}


def table(rows: list[dict]) -> str:
    lines = [f"{'streams':>7}  {'diarization':>11}  {'CPU s/audio s':>13}  {'final p50':>9}  {'final p95':>9}  DER"]
    for r in rows:
        ders = ", ".join(f"{c['case']} {c['der']:.1%} ({c['speakers']}/{c['reference_speakers']} speakers)"
                         for c in r["cases"] if c["der"] is not None)
        lines.append(f"{r['streams']:>7}  {'on' if r['diarization'] else 'off':>11}  {r['cpu_per_audio_second']:>13.3f}"
                     f"  {r['final_latency']['p50']:>8.2f}s  {r['final_latency']['p95']:>8.2f}s  {ders or '-'}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    dialogues = [case() for case in CASES[:args.cases]]
    port = free_port()
    core = start_core(port)
    address = f"127.0.0.1:{port}"
    try:
        for diarize in (False, True):  # warm-up: models loaded, first-stream costs paid
            await stream(address, dialogues[0], diarize)
        rows = []
        for n in args.streams:
            for diarize in (False, True):
                rows.append(await load(address, core.pid, [dialogues[i % len(dialogues)] for i in range(n)], diarize))
                log.info("%d stream(s), diarization %s: done", n, "on" if diarize else "off")
    finally:
        core.terminate()
        core.wait(timeout=30)
    print(table(rows))
    print(f"saved {save('diarization', {'rows': rows})}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--cases", type=int, default=len(CASES), choices=range(1, len(CASES) + 1))
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
