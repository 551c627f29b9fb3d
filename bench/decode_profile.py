"""Where the time goes: decodes per utterance and decoder time by purpose, CPU per audio second.

Streams the latency workload (bench/common.py) in real time to a core started here with
--metrics-port, then reads the core's `asr_decode_requests` and `asr_decode_purpose_seconds`
(by model and purpose: partial, final, final_full, identify) and its process CPU time. Counts and
CPU seconds hold on a machine other processes keep busy; decoder seconds are wall time, so the
CPU of each purpose is estimated as its share of decoder time times the core's CPU.

    python -m bench.decode_profile [--streams N] [--sentences K] [--core-args '...']
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

from .common import process_cpu_seconds, save, start_core, workload
from .latency import stream_once

log = logging.getLogger("bench.decode_profile")


def decode_counters(port: int) -> dict[tuple[str, str], tuple[float, float]]:
    """(model, purpose) -> (requests decoded, decoder seconds), from the core's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    out: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "asr_decode_requests_total":
                out[(s.labels["model"], s.labels["purpose"])][0] += s.value
            elif s.name == "asr_decode_purpose_seconds_total":
                out[(s.labels["model"], s.labels["purpose"])][1] += s.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def profile(streams: int, sentences: int, pause: float, core_args: str, tree: str | None = None) -> dict:
    wl = workload(pause, sentences)
    metrics_port, port = free_port(), free_port()
    proc = start_core(port, "--metrics-port", str(metrics_port), *core_args.split(), tree=tree)
    try:
        before, cpu0 = decode_counters(metrics_port), process_cpu_seconds(proc.pid)
        address = f"127.0.0.1:{port}"

        async def run() -> list[dict]:
            return await asyncio.gather(*(stream_once(address, wl, True) for _ in range(streams)))

        results = asyncio.run(run())
        cpu = process_cpu_seconds(proc.pid) - cpu0
        after = decode_counters(metrics_port)
    finally:
        proc.terminate()
        proc.wait()
    audio = wl.seconds * streams
    utterances = len(wl.spans) * streams
    busy_total = sum(after[k][1] - before.get(k, (0, 0))[1] for k in after) or 1e-9
    rows = {}
    for key in sorted(after):
        n = after[key][0] - before.get(key, (0, 0))[0]
        busy = after[key][1] - before.get(key, (0, 0))[1]
        rows["/".join(key)] = {"per_utterance": n / utterances, "per_audio_second": n / audio,
                               "decoder_share": busy / busy_total, "cpu_per_audio_second": cpu * busy / busy_total / audio,
                               "decoder_ms_each": 1000 * busy / n if n else 0.0}
    return {"streams": streams, "audio_seconds": audio, "utterances": utterances,
            "cpu_per_audio_second": cpu / audio, "decoder_seconds_per_audio_second": busy_total / audio,
            "finals_per_utterance": sum(r["segments"] for r in results) / utterances,
            "wer_max": max(r["wer"] for r in results), "purposes": rows}


def report(res: dict) -> str:
    lines = [f"{res['streams']} stream(s), {res['audio_seconds']:.1f} s of audio, {res['utterances']} utterances: "
             f"core CPU {res['cpu_per_audio_second']:.3f} s per audio s, decoders busy "
             f"{res['decoder_seconds_per_audio_second']:.3f} s per audio s, {res['finals_per_utterance']:.2f} finals "
             f"per utterance, worst WER {res['wer_max']:.3f}",
             f"{'model/purpose':24}{'per utt.':>9}{'per audio s':>12}{'ms each':>9}{'share':>7}{'CPU s/audio s':>14}"]
    for name, r in res["purposes"].items():
        lines.append(f"{name:24}{r['per_utterance']:>9.2f}{r['per_audio_second']:>12.2f}{r['decoder_ms_each']:>9.0f}"
                     f"{r['decoder_share']:>7.0%}{r['cpu_per_audio_second']:>14.3f}")
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--sentences", type=int, default=0, help="the workload's first K sentences only (0 = all ten)")
    p.add_argument("--pause", type=float, default=1.2)
    p.add_argument("--core-args", default="", help="flags for the core started here")
    p.add_argument("--baseline-tree", metavar="DIR", help="also profile a core started from this other checkout")
    args = p.parse_args()
    results = {}
    if args.baseline_tree:
        results["baseline"] = profile(args.streams, args.sentences, args.pause, args.core_args, args.baseline_tree)
        print(f"[baseline {args.baseline_tree}]\n{report(results['baseline'])}")
    results["this"] = profile(args.streams, args.sentences, args.pause, args.core_args)
    print(f"[this tree {args.core_args}]\n{report(results['this'])}")
    print(f"  saved {save(f'decode_profile-{args.streams}', results)}")


if __name__ == "__main__":
    main()
