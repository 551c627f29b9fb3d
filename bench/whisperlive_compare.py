"""Side by side: our whisperlive bridge + core vs the reference WhisperLive server (whisper-live 0.10.0).

One WhisperLive-protocol client (bench/wl_client.py) streams the benchmark workload (10 utterances,
1.2 s pauses, ~44 s) at real time in 4096-sample float32 frames to each server, 1..16 streams at
once, one configuration at a time, every server started here on free ports:
  ours       core + `python -m bridges.whisperlive --max-clients M`
  grpc       the same workload straight to the core (bench.latency.stream_once): the bridge's share
  ref        whisper-live TranscriptionServer, faster_whisper backend, CPU, our local tiny.en,
             single-model mode, --max-clients M
  ref-batch  the same with batch_enabled=True (its cross-client batch inference)
Per stream: final latency per completed segment, final latency per utterance, partial lag, WER of
the completed transcript, and whether it was served (vs WAIT / ERROR / no SERVER_READY); per run,
the server process tree's CPU use in cores. Needs `bench/setup_whisperlive_ref.sh` for ref*.

    python -m bench.whisperlive_compare [--streams 1,2,4,8,16] [--utterances 10]
        [--configs ours,grpc,ref,ref-batch] [--max-clients 32] [--ramp 0]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

from tests.audio_fixtures import with_pauses

from .common import RESULTS, SENTENCES, Workload, machine, save
from .latency import stream_once
from .wl_client import ClientSettings, StreamResult, run_stream
from .wl_report import RunStats, aggregate, plot, ratio_lines, ratios, table, to_json
from .wl_servers import Server, core_only, our_stack, reference

log = logging.getLogger("bench.whisperlive_compare")
CONFIGS = ("ours", "grpc", "ref", "ref-batch", "ours-baseline", "grpc-baseline")
PAUSE = 1.2


def make_workload(utterances: int) -> Workload:
    texts = SENTENCES[:utterances]
    audio, spans = with_pauses(texts, pause=PAUSE)
    return Workload(audio, spans, texts)


async def _grpc_stream(address: str, wl: Workload) -> StreamResult:
    try:
        r = await stream_once(address, wl, True)
    except Exception as exc:  # a gRPC status or a dropped channel: this stream was not served
        return StreamResult("error", f"{type(exc).__name__}: {exc}")
    # stream_once measures each utterance from its true end, so it fills utterance_latency only;
    # its first-partial latency (from the utterance's start) is a different quantity from partial lag.
    return StreamResult("served", utterance_latency=r["final"], wer=r["wer"], completed_segments=r["segments"],
                        utterances_missed=len(wl.spans) - len(r["final"]))


async def _delayed(delay: float, coro):
    await asyncio.sleep(delay)
    return await coro


async def run_streams(server: Server, wl: Workload, n: int, ramp: float, settings: ClientSettings) -> list[StreamResult]:
    if server.name in ("grpc", "grpc-baseline"):
        jobs = [_delayed(i * ramp, _grpc_stream(server.address, wl)) for i in range(n)]
    else:
        jobs = [_delayed(i * ramp, run_stream(server.address, wl, settings)) for i in range(n)]
    return list(await asyncio.gather(*jobs))


def start(config: str, max_clients: int, baseline_tree: str | None = None) -> AbstractContextManager[Server]:
    if config in ("ours-baseline", "grpc-baseline") and not baseline_tree:
        raise SystemExit(f"config {config} needs --baseline-tree")
    if config in ("ours", "ours-baseline"):
        return our_stack(max_clients, tree=baseline_tree if config == "ours-baseline" else None, name=config)
    if config in ("grpc", "grpc-baseline"):
        return core_only(tree=baseline_tree if config == "grpc-baseline" else None, name=config)
    if config in ("ref", "ref-batch"):
        return reference(batch=config == "ref-batch", max_clients=max_clients)
    raise ValueError(f"unknown config {config!r}; choose from {', '.join(CONFIGS)}")


def bench_config(config: str, counts: list[int], wl: Workload, args: argparse.Namespace) -> list[RunStats]:
    settings = ClientSettings(drain_quiet=args.drain_quiet, drain_max=args.drain_max,
                              drain_silence=not args.no_drain_silence)
    out = []
    with start(config, args.max_clients, args.baseline_tree) as server:
        # Warm-up (not measured): the reference loads its model on the first connection and
        # starts its batch worker after it; ours pays its first decode here too.
        warm = asyncio.run(run_streams(server, make_workload(1), 1, 0.0, settings))[0]
        if not warm.served:
            raise RuntimeError(f"{config}: warm-up stream not served: {warm.outcome} {warm.detail}\n{server.log_tail()}")
        for n in counts:
            time.sleep(args.settle)  # let the last run's sessions close and the batch admission bucket refill
            server.check_alive()
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            results = asyncio.run(run_streams(server, wl, n, args.ramp, settings))
            wall, cpu = time.monotonic() - t0, server.cpu_seconds() - cpu0
            server.check_alive()
            stats = aggregate(config, results, cpu, wall, wl.seconds)
            log.info("%s n=%d: served %d/%d, final p50 %.0f ms, utt p50 %.0f ms, %.2f cores, %.0f s",
                     config, n, stats.served, n, stats.final_latency["p50"] * 1000,
                     stats.utterance_latency["p50"] * 1000, stats.cpu_cores, wall)
            out.append(stats)
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # SIGTERM unwinds like Ctrl-C, so the servers started here are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,2,4,8,16", help="comma-separated concurrent stream counts")
    parser.add_argument("--utterances", type=int, default=len(SENTENCES),
                        help=f"utterances of the workload to stream (1..{len(SENTENCES)})")
    parser.add_argument("--configs", default="ours,grpc,ref,ref-batch",
                        help=f"which servers, comma-separated, from {', '.join(CONFIGS)} (the -baseline ones "
                             "need --baseline-tree)")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="another checkout (e.g. today's main): its core and bridge run first as "
                             "ours-baseline (and grpc-baseline when grpc is measured), side by side with this tree's")
    parser.add_argument("--max-clients", type=int, default=32, help="client limit of our bridge and the reference")
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds between stream starts")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before each run")
    parser.add_argument("--drain-quiet", type=float, default=ClientSettings.drain_quiet)
    parser.add_argument("--drain-max", type=float, default=ClientSettings.drain_max)
    parser.add_argument("--no-drain-silence", action="store_true",
                        help="while waiting for the tail, send nothing instead of real-time silence")
    parser.add_argument("--name", default="whisperlive_compare", help="results file stem under bench/results/")
    parser.add_argument("--plot", type=Path, default=RESULTS / "latency_vs_streams.png")
    args = parser.parse_args()
    counts = [int(x) for x in args.streams.split(",") if x.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not 1 <= args.utterances <= len(SENTENCES):
        parser.error(f"--utterances must be 1..{len(SENTENCES)}")
    for c in configs:
        if c not in CONFIGS:
            parser.error(f"unknown config {c!r}; choose from {', '.join(CONFIGS)}")

    if args.baseline_tree:
        configs = [f"{c}-baseline" for c in ("ours", "grpc") if c in configs and f"{c}-baseline" not in configs] + configs
    wl = make_workload(args.utterances)
    log.info("workload: %d utterances, %.1f s of audio; streams %s; configs %s",
             args.utterances, wl.seconds, counts, configs)
    began = time.monotonic()
    stats: list[RunStats] = []
    for config in configs:
        stats += bench_config(config, counts, wl, args)
    elapsed = time.monotonic() - began

    rows = ratios(stats)
    print(f"\nWhisperLive side by side: {args.utterances} utterance(s), {wl.seconds:.1f} s audio per stream, "
          f"{machine()}; sweep took {elapsed / 60:.1f} min")
    print(table(stats))
    print("\nratios (reference / ours; > 1 means ours is lower):")
    print(ratio_lines(rows))
    path = save(args.name, {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "workload": {"utterances": args.utterances, "audio_seconds": wl.seconds, "pause": PAUSE,
                     "frame_samples": 4096, "texts": list(wl.texts)},
        "sweep_seconds": elapsed,
        "runs": to_json(stats),
        "ratios": rows,
    })
    print(f"saved {path}")
    print(f"saved {plot(stats, args.plot, f'final latency vs streams ({wl.seconds:.0f} s audio/stream, {machine()})')}")


if __name__ == "__main__":
    main()
