"""Decodes per utterance and CPU per decode, by purpose, counted so that a busy machine does not
change them: the contention-robust half of "where the time goes" (docs/performance.md).

One session of the default Whisper engine (tiny.en, language routing to base) runs in this
process on the latency workload (bench/common.py), fed 100 ms at a time; after each chunk every
decode the session started (partial, speculative or final, identification) is awaited, so the
decodes are those of a decoder that always keeps up, whatever the machine's load: the same
count on every run (a loaded machine's one-partial-in-flight rule would otherwise drop partials
and change it). Every decode runs alone (a lock around the decoder), so the process CPU time
measured around it is that decode's, whichever thread CTranslate2 ran it on; CPU times still
grow on a machine whose other processes share the cores' caches, so compare CPU figures taken
in one run (--compare). Finals use the full window (`--final-window auto` decides by wall-time
load, which this harness does not have).

    python -m bench.decode_census [--sentences K] [--final-window full|trimmed|auto]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from collections import defaultdict
from dataclasses import replace

from core_service.engines.base import SessionSettings
from core_service.engines.whisper import WhisperEngine, WhisperOptions, decode_purpose
from tests.audio_fixtures import wer

from .common import machine, save, workload

log = logging.getLogger("bench.decode_census")
CHUNK = 1600


class Census:
    """Decodes and their process CPU seconds by (model, purpose); decodes one at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count: dict[str, int] = defaultdict(int)
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, scheduler, model: str) -> None:
        decode = scheduler._decode

        def counted(requests):
            with self.lock:
                t0 = time.process_time()
                out = decode(requests)
                spent = time.process_time() - t0
            for r in requests:
                # a final's request says so only by its window; partials and trimmed finals are
                # told apart by the scheduler's class, which the purpose hook receives
                key = f"{model}/{getattr(r, '_purpose', decode_purpose(r, True))}"
                self.count[key] += 1
                self.cpu[key] += spent / len(requests)
            return out

        scheduler._decode = counted


async def census(sentences: int, final_window: str) -> dict:
    wl = workload(1.2, sentences)
    engine = WhisperEngine(WhisperOptions(final_window=final_window))
    counts = Census()
    await engine.warm_up()
    for name, loaded in engine._models.items():
        counts.wrap(loaded.scheduler, name)
        submit = loaded.scheduler.submit

        def tagged(request, *, final, submit=submit, **kw):  # the purpose rides on the request
            request = replace(request)
            request._purpose = decode_purpose(request, final)
            return submit(request, final=final, **kw)

        loaded.scheduler.submit = tagged
    counts.count.clear()
    counts.cpu.clear()
    finals = []
    settings = engine.resolve(SessionSettings(engine="whisper", model="", interim_results=True))
    stream = await engine.open_stream(settings, lambda r: finals.append(r) if getattr(r, "is_final", False) else None)
    cpu0 = time.process_time()
    for i in range(0, len(wl.audio), CHUNK):
        await stream.accept(wl.audio[i:i + CHUNK])
        while stream._tasks:  # every decode it started, and the finals' tasks after them
            await asyncio.wait(list(stream._tasks), timeout=30)
    await stream.finish()
    await stream.close()
    cpu = time.process_time() - cpu0
    await engine.aclose()
    utterances = len(wl.spans)
    rows = {k: {"per_utterance": counts.count[k] / utterances, "cpu_ms_each": 1000 * counts.cpu[k] / counts.count[k],
                "cpu_per_audio_second": counts.cpu[k] / wl.seconds} for k in sorted(counts.count)}
    text = " ".join(r.text for r in finals)
    return {"audio_seconds": wl.seconds, "utterances": utterances, "finals": len(finals),
            "cpu_per_audio_second": cpu / wl.seconds,
            "decode_cpu_per_audio_second": sum(counts.cpu.values()) / wl.seconds,
            "wer": wer(" ".join(wl.texts), text), "purposes": rows}


def report(res: dict) -> str:
    lines = [f"{res['audio_seconds']:.1f} s of audio, {res['utterances']} utterances, {res['finals']} finals, "
             f"WER {res['wer']:.3f}: process CPU {res['cpu_per_audio_second']:.3f} s per audio s, of which decodes "
             f"{res['decode_cpu_per_audio_second']:.3f}",
             f"{'model/purpose':24}{'per utt.':>9}{'CPU ms each':>12}{'CPU s/audio s':>14}"]
    for name, r in res["purposes"].items():
        lines.append(f"{name:24}{r['per_utterance']:>9.2f}{r['cpu_ms_each']:>12.0f}{r['cpu_per_audio_second']:>14.3f}")
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sentences", type=int, default=0, help="the workload's first K sentences only (0 = all ten)")
    p.add_argument("--final-window", default="full", choices=("full", "trimmed", "auto"))
    args = p.parse_args()
    res = asyncio.run(census(args.sentences, args.final_window))
    print(f"machine: {machine()}\n{report(res)}")
    print(f"  saved {save('decode_census', res)}")


if __name__ == "__main__":
    main()
