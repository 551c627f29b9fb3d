"""What a bridge adds: the WebSocket + gRPC hop, and how many idle sessions one bridge holds.

Hop latency: a settings round trip, which involves no inference. Directly: gRPC
`update_settings` -> `settings_updated`. Through the rnnt bridge: `configure` -> (bridge ->
core `update_settings` -> `settings_updated` -> bridge) -> `configured`. The difference of
the medians is what the bridge hop adds to every message.

Idle sessions: N google_stt clients each send a config and get the `metadata` ack (so each
holds a live gRPC stream to the core), then stay idle; reports the bridge's memory per session
and checks a fresh session still round-trips.

Before and after a change, in one run: `--baseline-tree DIR` (another checkout, e.g. a git
worktree of main) also starts that tree's bridges against the same core; the round trips are
measured in alternating blocks (direct, baseline, this tree) so load on the machine falls on all
three alike, and the medians are printed side by side with their ratios.

    python -m bench.bridge_overhead [--rounds 300] [--idle 1000] [--baseline-tree /work/baseline]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field

import grpc
import psutil
import websockets
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.conftest import free_port

from .common import save, start_core, summary

log = logging.getLogger("bench.bridge_overhead")


BLOCKS = 5  # alternating blocks of round trips per path


def start_bridge(name: str, port: int, core: str, *args: str, tree: str | None = None) -> subprocess.Popen:
    """`python -m bridges.<name>` from this checkout or from the source tree `tree`."""
    proc = subprocess.Popen([sys.executable, "-m", f"bridges.{name}", "--host", "127.0.0.1", "--port", str(port),
                             "--core", core, "--log-level", "WARNING", *args], cwd=tree)
    import socket
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"bridge {name} did not start")


def _update(i: int) -> asr_pb2.RecognizeRequest:
    return asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(update_settings=asr_pb2.UpdateSettings(
        vad=asr_pb2.VadConfig(threshold=0.4 + (i % 2) * 0.1))))


async def direct_round_trips(address: str, rounds: int) -> list[float]:
    queue: asyncio.Queue = asyncio.Queue()

    async def requests():
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig())
        while (item := await queue.get()) is not None:
            yield item

    times = []
    async with grpc.aio.insecure_channel(address) as channel:
        call = asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests())
        await call.read()  # session_started
        for i in range(rounds):
            t = time.perf_counter()
            queue.put_nowait(_update(i))
            while (await call.read()).WhichOneof("response") != "settings_updated":
                pass
            times.append(time.perf_counter() - t)
        queue.put_nowait(None)
        while await call.read() is not grpc.aio.EOF:
            pass
    return times


async def bridge_round_trips(port: int, rounds: int) -> list[float]:
    times = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/transcribe?client_id=bench") as ws:
        json.loads(await ws.recv())  # connection info
        await ws.send(json.dumps({"type": "start_recording", "config": {"sample_rate": 16000}}))
        while json.loads(await ws.recv())["type"] != "recording_started":
            pass
        for i in range(rounds):
            t = time.perf_counter()
            await ws.send(json.dumps({"type": "configure", "vad_threshold": 0.4 + (i % 2) * 0.1}))
            while json.loads(await ws.recv())["type"] != "configured":
                pass
            times.append(time.perf_counter() - t)
        await ws.send(json.dumps({"type": "stop_recording"}))
    return times


async def idle_sessions(port: int, count: int, bridge_pid: int) -> dict:
    bridge = psutil.Process(bridge_pid)
    rss_before = bridge.memory_info().rss
    sockets = []
    failed = 0
    t = time.perf_counter()
    for i in range(count):
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/asr-stream", open_timeout=30)
            await ws.send(json.dumps({"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16"}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if ack.get("type") != "metadata":
                failed += 1
            sockets.append(ws)
        except Exception as exc:  # count, don't stop: the figure is how many it holds
            log.warning("session %d failed: %s", i, exc)
            failed += 1
    opened = time.perf_counter() - t
    await asyncio.sleep(2.0)
    rss_after = bridge.memory_info().rss
    cpu = bridge.cpu_percent(interval=2.0)
    # a fresh session still works while all of them are held open
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/asr-stream")
    await ws.send(json.dumps({"language_code": "en-US"}))
    fresh_ok = json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") == "metadata"
    await ws.close()
    for s in sockets:
        await s.close()
    return {"sessions": count, "failed": failed, "open_seconds": opened, "fresh_session_ok": fresh_ok,
            "bridge_rss_mb_before": rss_before / 2**20, "bridge_rss_mb_after": rss_after / 2**20,
            "kb_per_session": (rss_after - rss_before) / 1024 / max(count - failed, 1), "idle_cpu_percent": cpu}


@dataclass
class Tree:
    """One checkout's bridges under test (label "" = this checkout)."""

    label: str
    path: str | None
    rnnt: subprocess.Popen | None = None
    rnnt_port: int = 0
    stt: subprocess.Popen | None = None
    stt_port: int = 0
    times: list[float] = field(default_factory=list)
    idle: dict = field(default_factory=dict)

    def start(self, address: str, idle: int) -> None:
        self.rnnt_port, self.stt_port = free_port(), free_port()
        self.rnnt = start_bridge("rnnt", self.rnnt_port, address, tree=self.path)
        if idle:
            self.stt = start_bridge("google_stt", self.stt_port, address, "--max-connections", str(idle + 50),
                                    "--max-connections-per-client", str(idle + 50), "--idle-timeout", "3600", "--end-after-silence", "3600", tree=self.path)

    def stop(self) -> None:
        for proc in (self.stt, self.rnnt):
            if proc is not None:
                proc.terminate()
                proc.wait()


def measure(address: str, trees: list[Tree], rounds: int) -> list[float]:
    """Round trips direct and through each tree's rnnt bridge, in alternating blocks."""
    asyncio.run(direct_round_trips(address, 20))  # warm up every path
    for tree in trees:
        asyncio.run(bridge_round_trips(tree.rnnt_port, 20))
    direct: list[float] = []
    block = max(1, rounds // BLOCKS)
    for start in range(0, rounds, block):
        n = min(block, rounds - start)
        direct += asyncio.run(direct_round_trips(address, n))
        for tree in trees:
            tree.times += asyncio.run(bridge_round_trips(tree.rnnt_port, n))
    return direct


def report(rounds: int, direct: list[float], trees: list[Tree]) -> dict:
    d = summary(direct)
    print(f"settings round trip, {rounds} rounds in {BLOCKS} alternating blocks"
          + "".join(f"; {t.label} = {t.path}" for t in trees if t.path))
    print(f"  {'path':34}{'p50':>10}{'p95':>10}{'added p50':>12}{'ratio':>8}")
    print(f"  {'direct gRPC':34}{d['p50'] * 1000:>8.2f}ms{d['p95'] * 1000:>8.2f}ms")
    res: dict = {"direct_ms": {k: v * 1000 for k, v in d.items() if k != "n"}, "rounds": rounds, "bridges": {}}
    first_added = None
    for tree in trees:
        b = summary(tree.times)
        added = b["p50"] - d["p50"]
        versus = f" ({added / first_added:.2f}x)" if first_added and tree is not trees[0] else ""
        first_added = first_added if first_added is not None else added
        print(f"  {'via rnnt bridge ' + tree.label:34}{b['p50'] * 1000:>8.2f}ms{b['p95'] * 1000:>8.2f}ms"
              f"{added * 1000:>10.2f}ms{b['p50'] / d['p50']:>7.2f}x{versus}")
        res["bridges"][tree.label] = {"bridge_ms": {k: v * 1000 for k, v in b.items() if k != "n"},
                                      "added_p50_ms": added * 1000, "idle": tree.idle}
        if tree.idle:
            i = tree.idle
            print(f"  idle sessions on one google_stt bridge {tree.label}: {i['sessions'] - i['failed']}/"
                  f"{i['sessions']} held, {i['kb_per_session']:.0f} KB each (bridge RSS "
                  f"{i['bridge_rss_mb_before']:.0f} -> {i['bridge_rss_mb_after']:.0f} MB), idle CPU "
                  f"{i['idle_cpu_percent']:.0f}%, fresh session ok: {i['fresh_session_ok']}")
    if len(trees) > 1:
        print("  (the last column: each tree's added p50 against the first's)")
    return res


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--idle", type=int, default=1000, help="idle google_stt sessions to hold (0 = skip)")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="also measure the bridges of this other checkout (e.g. a git worktree of main) "
                             "against the same core, side by side")
    args = parser.parse_args()
    core_port = free_port()
    trees = [Tree("[baseline]", args.baseline_tree)] if args.baseline_tree else []
    trees.append(Tree("[this tree]" if args.baseline_tree else "", None))
    core = start_core(core_port, "--max-sessions", str(len(trees) * (args.idle + 50)))
    address = f"127.0.0.1:{core_port}"
    try:
        for tree in trees:  # the baseline first: a tree that cannot start fails the run early
            tree.start(address, args.idle)
        direct = measure(address, trees, args.rounds)
        for tree in trees if args.idle else []:
            tree.idle = asyncio.run(idle_sessions(tree.stt_port, args.idle, tree.stt.pid))
    finally:
        for tree in trees:
            tree.stop()
        core.terminate()
        core.wait()
    res = report(args.rounds, direct, trees)
    print(f"  saved {save('bridge_overhead' + ('-versus-baseline' if args.baseline_tree else ''), res)}")


if __name__ == "__main__":
    main()
