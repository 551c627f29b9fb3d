"""CPU cost and WER of final decodes by beam size, and of language identification.

Decodes the latency workload's ten utterances one by one with the real decoder (trimmed
windows, as the core does) and reports the process CPU seconds per final and the WER for each
beam size, plus the cost of one language identification with the multilingual model (what
language routing adds to a session's first utterance and to any utterance tiny.en finds
unfamiliar). CPU seconds, not wall time: the figures hold on a machine other processes keep
busy. With the measured cost per final, it prints what share of two cores finals take for 1, 4
and 16 real-time streams (the workload has one final per 4.4 s of audio).

    python -m bench.decode_cost [--beams 1 5] [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

from core_service import models
from core_service.engines.whisper_decoder import DecodeRequest, WhisperDecoder
from tests.audio_fixtures import SAMPLE_RATE, wer

from .common import machine, save, workload

log = logging.getLogger("bench.decode_cost")


def cpu_per_call(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        samples.append(time.process_time() - t0)
    return statistics.median(samples)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    wl = workload()
    clips = [wl.audio[int(a * SAMPLE_RATE) - 3200:int(b * SAMPLE_RATE) + 1920] for a, b in wl.spans]
    tiny = WhisperDecoder(str(models.tiny_en_path()))
    tiny.decode([DecodeRequest(clips[0])])  # warm up
    rows = {}
    for beam in args.beams:
        texts, costs = [], []
        for clip in clips:
            request = DecodeRequest(clip, beam_size=beam)
            costs.append(cpu_per_call(lambda: tiny.decode([request]), args.repeat))
            texts.append(tiny.decode([request])[0].text)
        rows[beam] = {"cpu_ms_per_final": 1000 * statistics.fmean(costs),
                      "wer": wer(" ".join(wl.texts), " ".join(texts))}
    base = WhisperDecoder(str(models.base_path()))
    base.identify(DecodeRequest(clips[0][:3 * SAMPLE_RATE], detect_only=True))
    identify_ms = 1000 * statistics.fmean(cpu_per_call(
        lambda c=c: base.identify(DecodeRequest(c[:3 * SAMPLE_RATE], detect_only=True)), args.repeat) for c in clips)
    finals_per_second = len(clips) / wl.seconds
    print(f"machine: {machine()}")
    print(f"{'beam':>4} {'CPU ms/final':>13} {'x beam 1':>9} {'WER':>6}   share of 2 cores for finals at 1 / 4 / 16 streams")
    for beam, r in rows.items():
        share = [n * finals_per_second * r["cpu_ms_per_final"] / 1000 / 2 for n in (1, 4, 16)]
        print(f"{beam:>4} {r['cpu_ms_per_final']:>13.1f} {r['cpu_ms_per_final'] / rows[args.beams[0]]['cpu_ms_per_final']:>9.2f}"
              f" {r['wer']:>6.3f}   " + " / ".join(f"{s:.0%}" for s in share))
    print(f"language identification (base, first 3 s): {identify_ms:.1f} CPU ms = "
          f"{identify_ms / rows[args.beams[0]]['cpu_ms_per_final']:.2f} x a beam-1 tiny.en final")
    save("decode_cost", {"beams": rows, "identify_cpu_ms": identify_ms})


if __name__ == "__main__":
    main()
