"""Two cores on this machine behind each balancing mode: gRPC client-side round robin (ipv4: target,
clients/targets.py) and HAProxy (deploy/haproxy/haproxy.cfg).

Figures, per mode:
- in-stream round trip (an UpdateSettings control answered by SettingsUpdated), p50/p95: the
  proxy hop's added latency is the difference between the two modes;
- failover: the time from SIGKILL of one core to the first new session served (SessionStarted)
  elsewhere, sessions opened back to back from the moment of the kill.

`python -m bench.balancing [--rounds 200]` (about a minute). Writes bench/results/balancing.json.
On a shared, busy machine the numbers carry that load; read them as orders of magnitude.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import tempfile
import time
from pathlib import Path

import grpc

from asr.v1 import asr_pb2, asr_pb2_grpc
from bench.bridge_overhead import direct_round_trips
from bench.common import save, start_core, summary
from clients.targets import channel_options, parse_target
from tests.balancing_helpers import start_haproxy
from tests.conftest import free_port

log = logging.getLogger("bench.balancing")
FAILOVER_DEADLINE_SECONDS = 30.0


async def session_started(stub: asr_pb2_grpc.RecognizerServiceStub) -> bool:
    """Open one session and end it; True when the core answered SessionStarted."""
    call = stub.Recognize(iter([asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig())]), timeout=10)
    try:
        first = await call.read()
        ok = first is not grpc.aio.EOF and first.WhichOneof("response") == "session_started"
        while await call.read() is not grpc.aio.EOF:
            pass
        return ok
    except grpc.aio.AioRpcError:
        return False


async def failover_seconds(target: str, victim) -> dict:
    async with grpc.aio.insecure_channel(parse_target(target), options=channel_options()) as channel:
        stub = asr_pb2_grpc.RecognizerServiceStub(channel)
        for _ in range(4):  # both cores connected and in use before the kill
            await session_started(stub)
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        failures = 0
        while time.monotonic() - killed < FAILOVER_DEADLINE_SECONDS:
            if await session_started(stub):
                return {"first_served_after_s": time.monotonic() - killed, "failed_sessions": failures}
            failures += 1
        return {"first_served_after_s": None, "failed_sessions": failures}


async def run_mode(mode: str, rounds: int, tmp: Path) -> dict:
    ports, agents = [free_port(), free_port()], [free_port(), free_port()]
    cores = [start_core(p, "--haproxy-agent-port", str(a)) for p, a in zip(ports, agents)]
    addresses = [f"127.0.0.1:{p}" for p in ports]
    proxy = None
    try:
        if mode == "haproxy":
            proxy, target, _ = start_haproxy(tmp, addresses, agents)
            await asyncio.sleep(3.0)  # two rounds of checks
        else:
            target = "ipv4:" + ",".join(addresses)
        trips = await direct_round_trips(target, rounds)
        failover = await failover_seconds(target, cores[0])
        return {"round_trip_ms": {k: (v * 1000 if k != "n" else v) for k, v in summary(trips).items()},
                "failover": failover}
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        for core in cores:
            if core.poll() is None:
                core.terminate()
                core.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("round_robin", "haproxy"):
            results[mode] = asyncio.run(run_mode(mode, args.rounds, Path(tmp)))
            log.info("%s: %s", mode, results[mode])
    rr, hp = results["round_robin"]["round_trip_ms"], results["haproxy"]["round_trip_ms"]
    results["proxy_hop_added_ms"] = {"p50": hp["p50"] - rr["p50"], "p95": hp["p95"] - rr["p95"]}
    log.info("proxy hop adds p50 %.2f ms, p95 %.2f ms; written to %s", results["proxy_hop_added_ms"]["p50"],
             results["proxy_hop_added_ms"]["p95"], save("balancing", results))


if __name__ == "__main__":
    main()
