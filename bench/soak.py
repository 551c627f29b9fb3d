"""Soak the live stack (issue 8): `python -m bench.soak [--sessions 1000]`.

Mixed sessions through every bridge and the gRPC API: normal, cancelled mid-stream,
never-reading, never-configuring and garbage. Prints RSS, open files and threads of every
process after the warm-up and at the end (the target: within 5 %), plus crashes, tracebacks,
bridge sessions still open and core session slots still held.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time

import grpc
import numpy as np
import websockets

from asr.v1 import asr_pb2, asr_pb2_grpc
from bench.stack import Stack, health, run_bench
from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16
from tests.bridges.dialect_drivers import DIALECTS, Dialect

log = logging.getLogger("bench.soak")
MAX_SESSIONS = 32
KINDS = ("normal", "normal", "cancelled", "never_reading", "never_configuring", "garbage")
GARBAGE = ["[" * 5000, '{"a": NaN}', "null", b"\x01\x02\x03", "", '{"type": "bogus"}', b""]
CHUNK = 1600
IDLE_SECONDS = 30.0  # before each snapshot, with no session open: three of the core's heap trims (10 s)
IDLE_SAMPLE_SECONDS = 3.0


def finished(message: dict) -> bool:
    return message.get("type") == "recording_stopped" or message.get("code") == "SESSION_STOPPED"


async def ws_session(stack: Stack, d: Dialect, kind: str, audio: np.ndarray, client_id: str) -> str:
    url = d.url(stack.bridges[d.name].port, client_id)
    async with websockets.connect(url, open_timeout=30, close_timeout=5) as ws:
        if kind == "never_configuring":
            await asyncio.sleep(0.5)
            return "closed"
        if kind == "garbage":
            for frame in GARBAGE:
                try:
                    await ws.send(frame)
                except websockets.ConnectionClosed:
                    break
            return "closed"
        await ws.send(d.config)
        chunks = [d.audio(audio[i:i + CHUNK]) for i in range(0, len(audio), CHUNK)]
        if kind == "cancelled":
            for chunk in chunks[: len(chunks) // 2]:
                await ws.send(chunk)
            ws.transport.abort()  # vanish mid-stream, no close handshake
            return "aborted"
        if kind == "never_reading":
            ws.transport.pause_reading()
            for chunk in chunks:
                await ws.send(chunk)
            await ws.send(d.stop)
            await asyncio.sleep(1.0)
            ws.transport.abort()
            return "aborted"
        for chunk in chunks:
            await ws.send(chunk)
        await ws.send(d.stop)
        try:
            async for raw in ws:
                if finished(json.loads(raw)):
                    break
        except websockets.ConnectionClosed:
            pass
        return "done"


async def grpc_session(stub: asr_pb2_grpc.RecognizerServiceStub, kind: str, audio: np.ndarray) -> str:
    pcm = to_pcm16(audio)

    async def requests():
        if kind == "never_configuring":
            await asyncio.sleep(0.5)
            return
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(interim_results=True))
        if kind == "garbage":
            yield asr_pb2.RecognizeRequest(audio=b"\x01\x02\x03")
            return
        end = len(pcm) // 2 if kind == "cancelled" else len(pcm)
        for i in range(0, end, 2 * CHUNK):
            yield asr_pb2.RecognizeRequest(audio=pcm[i:i + 2 * CHUNK])

    call = stub.Recognize(requests())
    finals = 0
    try:
        async for response in call:
            if kind in ("cancelled", "never_reading", "never_configuring"):
                break  # stop reading; cancel below
            if response.WhichOneof("response") == "result" and response.result.is_final and response.result.text.strip():
                finals += 1
    except grpc.aio.AioRpcError:
        pass
    call.cancel()
    if kind == "normal":  # one utterance in: exactly one final out (issue 15: no speech lost)
        return "lost" if finals == 0 else "done"
    return "done"


async def soak(stack: Stack, sessions: int, concurrency: int, warmup: int, seed: int) -> dict:
    audio = np.concatenate([speech(UTTERANCES[1]), silence(0.6)])
    targets = [*DIALECTS, "grpc"]
    counts: dict[str, int] = {}
    errors = 0
    lost = 0  # normal gRPC sessions (one utterance each) that got no final
    done = 0
    trajectory: list[tuple[int, float]] = []  # (sessions done, core RSS MB), every 100 sessions
    idle_core_rss: list[list[float]] = []  # per snapshot: the core's RSS while it settled
    queue: asyncio.Queue = asyncio.Queue()
    rng = random.Random(seed)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{stack.core.port}")
    stub = asr_pb2_grpc.RecognizerServiceStub(channel)

    async def worker() -> None:
        nonlocal errors, done, lost
        while not queue.empty():
            n, target, kind = queue.get_nowait()
            try:
                if target == "grpc":
                    if await asyncio.wait_for(grpc_session(stub, kind, audio), 120) == "lost":
                        lost += 1
                else:
                    await asyncio.wait_for(ws_session(stack, DIALECTS[target], kind, audio, f"soak-{n}"), 120)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
                errors += 1
                log.warning("%s %s failed: %s", target, kind, exc)
            counts[f"{target}/{kind}"] = counts.get(f"{target}/{kind}", 0) + 1
            done += 1
            if done % 100 == 0:
                core_rss = stack.figures()["core"]["rss_mb"]
                trajectory.append((done, core_rss))
                print(f"  {done} sessions, core RSS {core_rss} MB", flush=True)

    async def phase(first: int, last: int) -> dict:
        for n in range(first, last):
            queue.put_nowait((n, targets[n % len(targets)], rng.choice(KINDS)))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        # bridges notice vanished clients; the core finishes cancelled streams and hands its
        # freed heap back (--heap-trim-interval, 10 s)
        settling = []  # the core's RSS while idle, every few seconds
        for _ in range(int(IDLE_SECONDS / IDLE_SAMPLE_SECONDS)):
            await asyncio.sleep(IDLE_SAMPLE_SECONDS)
            settling.append(stack.figures()["core"]["rss_mb"])
        idle_core_rss.append(settling)
        return stack.figures()

    started = time.monotonic()
    figures_warm = await phase(0, warmup)  # both snapshots are taken with no session open
    figures_end = await phase(warmup, sessions)
    elapsed = time.monotonic() - started - 2 * IDLE_SECONDS
    await channel.close()
    change = {name: {k: round(100 * (figures_end[name][k] - v) / v, 1) if v else 0.0 for k, v in warm.items()}
              for name, warm in figures_warm.items() if name in figures_end}
    return {"sessions": sessions, "seconds": round(elapsed, 1), "client_errors": errors, "kinds": counts,
            "normal_grpc_sessions_without_a_final": lost,
            "after_warmup": figures_warm, "at_end": figures_end, "change_percent": change,
            "core_rss_mb_every_100_sessions": trajectory,
            f"core_rss_mb_every_{IDLE_SAMPLE_SECONDS:g}_s_before_each_snapshot": idle_core_rss,
            "within_5_percent": all(abs(v) <= 5 for c in change.values() for v in c.values()),
            **await health(stack, MAX_SESSIONS)}


def main() -> None:
    run_bench("soak", __doc__, ("--sessions", 1000, "sessions in total (issue 8: 1,000)"), 16, 200,
              lambda stack, args: soak(stack, args.sessions, args.concurrency, args.warmup, args.seed), MAX_SESSIONS)


if __name__ == "__main__":
    main()
