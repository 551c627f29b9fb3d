"""Real time first: real-time streams beside uploaders sending recorded speech as fast as they can.

Phase 1 ("alone"): `--realtime-streams` streams of the ~44 s workload, paced in real time in
100 ms chunks, started `--stagger` s apart. Phase 2 ("with uploads"): `--uploaders` streams each
send `--upload-minutes` of speech (the workload repeated) as fast as gRPC flow control lets them;
`--realtime-delay` s later the same real-time streams start again. Reported:
  - real-time streams admitted, and their final latency (arrival of the final - send time of the
    chunk holding the utterance's last audio) p50/p95 alone and beside the uploads, and the ratio
    of the p95s (target: at most 1.5);
  - per stream, utterances sent vs finals received (losses);
  - the uploads' speed and whether they were still running when the last real-time stream ended;
  - the core's RSS: after warm-up, peak in each phase, at the end.

    python -m bench.fairness [--upload-minutes 30] [--uploaders 2] [--realtime-streams 4]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.audio_fixtures import SAMPLE_RATE, to_pcm16
from tests.conftest import free_port

from .common import Workload, save, start_core, summary, workload
from .latency import secs, stream_once

log = logging.getLogger("bench.fairness")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class RssSampler:
    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)

    async def run(self, interval: float = 0.5) -> None:
        while True:
            self.samples.append((time.monotonic(), rss_mb(self.pid)))
            await asyncio.sleep(interval)

    def peak(self, since: float, until: float) -> float:
        return max((mb for t, mb in self.samples if since <= t <= until), default=float("nan"))


async def realtime_stream(address: str, wl: Workload, delay: float) -> dict:
    try:
        r = await stream_once(address, wl, True, delay)
    except grpc.aio.AioRpcError as err:
        return {"admitted": False, "error": f"{err.code().name}: {err.details()}", "final": [],
                "utterances": len(wl.spans), "finals_matched": 0}
    return {"admitted": True, "final": r["final"], "wer": r["wer"], "utterances": len(wl.spans),
            "finals_matched": len(r["final"]), "segments": r["segments"]}


async def upload(address: str, wl: Workload, minutes: float, chunk_seconds: float) -> dict:
    """Send `minutes` of speech (the workload repeated) as fast as possible; count finals per utterance."""
    repeats = max(1, math.ceil(minutes * 60 / wl.seconds))
    pcm = to_pcm16(wl.audio)
    chunk_bytes = int(chunk_seconds * SAMPLE_RATE) * 2
    finals: list[tuple[float, float]] = []

    async def requests():
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig())
        for _ in range(repeats):
            for i in range(0, len(pcm), chunk_bytes):
                yield asr_pb2.RecognizeRequest(audio=pcm[i:i + chunk_bytes])

    started = time.monotonic()
    error = ""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            async for resp in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests()):
                if resp.WhichOneof("response") == "result" and resp.result.is_final and resp.result.text.strip():
                    finals.append((secs(resp.result.start_offset), secs(resp.result.end_offset)))
        except grpc.aio.AioRpcError as err:
            error = f"{err.code().name}: {err.details()}"
    ended = time.monotonic()
    spans = [(s + k * wl.seconds, e + k * wl.seconds) for k in range(repeats) for s, e in wl.spans]
    matched = sum(1 for s, e in spans if any(fs < e and fe > s for fs, fe in finals))
    audio = repeats * wl.seconds
    return {"audio_seconds": audio, "wall_seconds": ended - started, "x_realtime": audio / (ended - started),
            "utterances": len(spans), "finals_matched": matched, "finals": len(finals), "error": error,
            "started": started, "ended": ended}


def latency_summary(streams: list[dict]) -> dict:
    values = [v for s in streams for v in s["final"]]
    return {"admitted": sum(s["admitted"] for s in streams), "streams": len(streams),
            "final_latency": summary(values),
            "losses": sum(s["utterances"] - s["finals_matched"] for s in streams if s["admitted"])}


async def run(address: str, pid: int, args: argparse.Namespace) -> dict:
    wl = workload()
    sampler = RssSampler(pid)
    sampling = asyncio.create_task(sampler.run())
    await asyncio.sleep(1.0)
    baseline = rss_mb(pid)

    t0 = time.monotonic()
    alone = await asyncio.gather(*(realtime_stream(address, wl, i * args.stagger)
                                   for i in range(args.realtime_streams)))
    t1 = time.monotonic()
    log.info("alone: done in %.0f s", t1 - t0)

    uploads = [asyncio.create_task(upload(address, wl, args.upload_minutes, args.upload_chunk_seconds))
               for _ in range(args.uploaders)]
    await asyncio.sleep(args.realtime_delay)
    beside = await asyncio.gather(*(realtime_stream(address, wl, i * args.stagger)
                                    for i in range(args.realtime_streams)))
    t2 = time.monotonic()
    log.info("beside uploads: real-time streams done in %.0f s; waiting for the uploads", t2 - t1)
    up = await asyncio.gather(*uploads)
    t3 = time.monotonic()
    sampling.cancel()
    await asyncio.sleep(1.0)
    alone_s, beside_s = latency_summary(alone), latency_summary(beside)
    return {
        "args": vars(args), "audio_seconds": wl.seconds,
        "alone": alone_s, "beside_uploads": beside_s,
        "p95_ratio": beside_s["final_latency"]["p95"] / alone_s["final_latency"]["p95"],
        "realtime_streams": {"alone": alone, "beside_uploads": beside},
        "uploads": [{k: v for k, v in u.items() if k not in ("started", "ended")} |
                    {"running_when_realtime_ended": u["ended"] >= t2} for u in up],
        "rss_mb": {"after_warm_up": baseline, "peak_alone": sampler.peak(t0, t1),
                   "peak_beside_uploads": sampler.peak(t1, t3), "end": rss_mb(pid)},
    }


def report(res: dict) -> None:
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    a, b = res["alone"], res["beside_uploads"]
    print(f"fairness: {a['streams']} real-time streams ({res['audio_seconds']:.0f} s of speech each), "
          f"{len(res['uploads'])} uploaders x {res['args']['upload_minutes']:g} min")
    for name, s in (("alone", a), ("beside uploads", b)):
        lat = s["final_latency"]
        print(f"  real-time {name:15s} admitted {s['admitted']}/{s['streams']}  final p50 {ms(lat['p50'])}  "
              f"p95 {ms(lat['p95'])}  (n={lat['n']})  losses {s['losses']}")
    print(f"  p95 beside uploads / alone = {res['p95_ratio']:.2f} (target <= 1.5)")
    for i, u in enumerate(res["uploads"]):
        print(f"  upload {i}: {u['audio_seconds'] / 60:.1f} min in {u['wall_seconds']:.0f} s "
              f"({u['x_realtime']:.1f}x real time), utterances {u['utterances']} -> finals matched "
              f"{u['finals_matched']} (losses {u['utterances'] - u['finals_matched']}), "
              f"still running when real-time streams ended: {u['running_when_realtime_ended']}"
              + (f", error {u['error']}" if u["error"] else ""))
    for phase, streams in res["realtime_streams"].items():
        for i, s in enumerate(streams):
            if not s["admitted"] or s["utterances"] != s["finals_matched"]:
                print(f"  real-time {phase} stream {i}: admitted {s['admitted']}, utterances {s['utterances']} "
                      f"-> finals {s['finals_matched']} {s.get('error', '')}")
    r = res["rss_mb"]
    print(f"  core RSS: {r['after_warm_up']:.0f} MB after warm-up, peak {r['peak_alone']:.0f} MB alone, "
          f"peak {r['peak_beside_uploads']:.0f} MB beside uploads, {r['end']:.0f} MB at the end")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upload-minutes", type=float, default=30.0, help="speech each uploader sends")
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--upload-chunk-seconds", type=float, default=1.0, help="audio per upload message")
    parser.add_argument("--realtime-streams", type=int, default=4)
    parser.add_argument("--stagger", type=float, default=0.27, help="seconds between real-time stream starts")
    parser.add_argument("--realtime-delay", type=float, default=12.0,
                        help="seconds after the uploads start before the real-time streams start; longer than "
                             "admission's 10 s measuring window, so the first phase's load is forgotten by then")
    parser.add_argument("--core-args", default="", help="extra flags for the core started here")
    args = parser.parse_args()
    port = free_port()
    proc = start_core(port, *args.core_args.split())
    try:
        res = asyncio.run(run(f"127.0.0.1:{port}", proc.pid, args))
    finally:
        proc.terminate()
        proc.wait()
    report(res)
    print(f"  saved {save('fairness', res)}")


if __name__ == "__main__":
    main()
