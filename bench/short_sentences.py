"""Short sentences under CPU load: every sentence the VAD hears must come back as exactly one final.

Streams a recording of six short sentences with short pauses ("Ever tried. Ever failed. ...")
through the core's gRPC API at a given pace while competing processes keep the CPU cores busy,
and counts, per stream, the sentences with no final over them (lost) and the finals that repeat
a text or cover no sentence (invented). Prints the totals; the goal is 0 and 0.

    python -m bench.short_sentences --streams 20 --load 2 --speed 2
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass, field

from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, to_pcm16
from tests.core.grpc_helpers import Call, audio_requests, config, recognize
from tests.speech_checks import SHORT_SENTENCES, CpuLoad, Recording, judge, short_sentences

log = logging.getLogger("bench.short_sentences")


@dataclass
class Outcome:
    finals: list[tuple[float, float, str]] = field(default_factory=list)
    begins: int = 0  # utterances the VAD began
    lost: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    status: str = "OK"


def outcome(recording: Recording, call: Call) -> Outcome:
    """Judge one call's finals against the recording; count the utterances the VAD began."""
    finals = [(f.start_offset.ToTimedelta().total_seconds(), f.end_offset.ToTimedelta().total_seconds(), f.text)
              for f in call.finals]
    begins = sum(1 for e in call.of("speech_event") if e.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN)
    verdict = judge(recording, finals)
    return Outcome(finals, begins, verdict.lost, verdict.invented, call.code.name)


async def stream_once(address: str, recording: Recording, speed: float, chunk_seconds: float = 0.1,
                      vad_threshold: float = 0.6) -> Outcome:
    """One stream of `recording` in `chunk_seconds` chunks at `speed` x real time (0 = at once).
    At the default VAD threshold of 0.6 the noisy sentence is a weak utterance (see
    tests/speech_checks.py), so both ways an utterance is judged speech are exercised."""
    pcm = to_pcm16(recording.audio)
    requests = [config(interim_results=True, vad=asr_pb2.VadConfig(threshold=vad_threshold)),
                *audio_requests(pcm, int(chunk_seconds * SAMPLE_RATE) * 2)]
    call = await recognize(address, requests, pace=chunk_seconds / speed if speed > 0 else 0.0)
    return outcome(recording, call)


async def run(address: str, streams: int, speed: float, concurrency: int) -> list[Outcome]:
    recording = short_sentences()
    outcomes: list[Outcome] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            out = await stream_once(address, recording, speed)
            outcomes.append(out)
            log.info("stream %d: %s lost=%s invented=%s finals=%s", i, out.status, out.lost, out.invented,
                     [f[2] for f in out.finals])

    await asyncio.gather(*(one(i) for i in range(streams)))
    return outcomes


def main() -> None:
    from bench.common import start_core
    from tests.conftest import free_port

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=20)
    p.add_argument("--speed", type=float, default=1.0, help="x real time (0 = as fast as possible)")
    p.add_argument("--load", type=int, default=2, help="competing busy processes")
    p.add_argument("--concurrency", type=int, default=1, help="streams at once")
    p.add_argument("--core", default="", help="an existing core's address (default: start one)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    core = None
    address = args.core
    if not address:
        port = free_port()
        core = start_core(port, "--final-share-budget", "1000", "--final-wait-budget", "1000")
        address = f"127.0.0.1:{port}"
    try:
        with CpuLoad(args.load):
            outcomes = asyncio.run(run(address, args.streams, args.speed, args.concurrency))
    finally:
        if core is not None:
            core.terminate()
            core.wait()
    lost = sum(len(o.lost) for o in outcomes)
    invented = sum(len(o.invented) for o in outcomes)
    unmatched = sum(o.begins != sum(1 for f in o.finals if f[2].strip()) for o in outcomes)
    print(f"{len(outcomes)} streams x {len(SHORT_SENTENCES)} sentences at {args.speed}x with {args.load} "
          f"busy processes: lost {lost}, invented {invented}, streams whose VAD utterances and finals "
          f"differ in number {unmatched}, failed streams {sum(o.status != 'OK' for o in outcomes)}")
    sys.exit(1 if lost or invented else 0)


if __name__ == "__main__":
    main()
