"""What a bridge adds: the WebSocket + gRPC hop, and how many idle sessions one bridge holds.

Hop latency: a settings round trip, which involves no inference. Directly: gRPC
`update_settings` -> `settings_updated`. Through the rnnt bridge: `configure` -> (bridge ->
core `update_settings` -> `settings_updated` -> bridge) -> `configured`. The difference of
the medians is what the bridge hop adds to every message.

Idle sessions: N google_stt clients each send a config and get the `metadata` ack (so each
holds a live gRPC stream to the core), then stay idle; reports the bridge's memory per session
and checks a fresh session still round-trips.

    python -m bench.bridge_overhead [--rounds 300] [--idle 1000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import time

import grpc
import psutil
import websockets
from asr.v1 import asr_pb2, asr_pb2_grpc

from tests.conftest import free_port

from .common import save, start_core, summary

log = logging.getLogger("bench.bridge_overhead")


def start_bridge(name: str, port: int, core: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", f"bridges.{name}", "--host", "127.0.0.1", "--port", str(port),
                             "--core", core, "--log-level", "WARNING", *args])
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--idle", type=int, default=1000)
    args = parser.parse_args()
    core_port, rnnt_port, stt_port = free_port(), free_port(), free_port()
    core = start_core(core_port, "--max-sessions", str(args.idle + 50))
    address = f"127.0.0.1:{core_port}"
    rnnt = start_bridge("rnnt", rnnt_port, address)
    stt = start_bridge("google_stt", stt_port, address, "--max-connections", str(args.idle + 50),
                       "--idle-timeout", "3600", "--end-after-silence", "3600")
    try:
        asyncio.run(direct_round_trips(address, 20))  # warm up both paths
        asyncio.run(bridge_round_trips(rnnt_port, 20))
        direct = asyncio.run(direct_round_trips(address, args.rounds))
        bridged = asyncio.run(bridge_round_trips(rnnt_port, args.rounds))
        idle = asyncio.run(idle_sessions(stt_port, args.idle, stt.pid))
    finally:
        for p in (stt, rnnt, core):
            p.terminate()
            p.wait()
    d, b = summary(direct), summary(bridged)
    added = b["p50"] - d["p50"]
    res = {"direct_ms": {k: v * 1000 for k, v in d.items() if k != "n"},
           "bridge_ms": {k: v * 1000 for k, v in b.items() if k != "n"},
           "added_p50_ms": added * 1000, "rounds": args.rounds, "idle": idle}
    print(f"settings round trip, {args.rounds} rounds")
    print(f"  direct gRPC       p50 {d['p50'] * 1000:.2f} ms  p95 {d['p95'] * 1000:.2f} ms")
    print(f"  via rnnt bridge   p50 {b['p50'] * 1000:.2f} ms  p95 {b['p95'] * 1000:.2f} ms")
    print(f"  added by the bridge hop: p50 {added * 1000:.2f} ms (ratio {b['p50'] / d['p50']:.2f}x)")
    print(f"idle sessions on one google_stt bridge: {idle['sessions'] - idle['failed']}/{idle['sessions']} held, "
          f"{idle['kb_per_session']:.0f} KB each (bridge RSS {idle['bridge_rss_mb_before']:.0f} -> "
          f"{idle['bridge_rss_mb_after']:.0f} MB), idle CPU {idle['idle_cpu_percent']:.0f}%, "
          f"fresh session ok: {idle['fresh_session_ok']}")
    print(f"  saved {save('bridge_overhead', res)}")


if __name__ == "__main__":
    main()
