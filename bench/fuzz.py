"""Fuzz the live bridges and core (issue 8): `python -m bench.fuzz [--frames 100000]`.

Drives the five bridges and a core with mutations of valid sessions (frames replaced, dropped,
duplicated, cut, bit-flipped, text sent as binary and back, hostile frames inserted) plus
sessions of random frames, and prints what must stay zero: process crashes, 1011 closes,
tracebacks in the logs, bridge sessions still open and core session slots still held
afterwards; and the RSS of each process before and after (after a warm-up).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time

import numpy as np
import websockets

from bench.stack import Stack, health, run_bench
from tests.audio_fixtures import UTTERANCES, noise, speech
from tests.bridges.dialect_drivers import DIALECTS, Dialect

log = logging.getLogger("bench.fuzz")
MAX_SESSIONS = 32
HOSTILE = ["[" * 5000, '{"a": NaN}', '{"sample_rate": 1e999}', '{"type": ' + "9" * 400 + "}", "", "null", "[]",
           "42", '"x"', '{"type": "bogus"}', '{"action": "bogus"}', "END_OF_AUDIO", b"", b"\x00", b"END_OF_AUDIO",
           b"\xff" * 7]


def mutate(frame: str | bytes, rng: random.Random) -> list[str | bytes]:
    choice = rng.randrange(8)
    if choice == 0:
        return []
    if choice == 1:
        return [frame, frame]
    if choice == 2:
        return [frame[: rng.randrange(len(frame) + 1)]]
    if choice == 3 and isinstance(frame, bytes) and frame:
        data = bytearray(frame)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return [bytes(data)]
    if choice == 4:
        return [frame.encode() if isinstance(frame, str) else frame.decode("latin-1")]
    if choice == 5 and isinstance(frame, str) and frame.startswith("{"):
        try:
            obj = json.loads(frame)
        except ValueError:
            return [frame]
        if obj:
            key = rng.choice(list(obj))
            obj[key] = rng.choice([None, -1, 10**12, "x" * rng.randrange(200), [], {"a": [1]}, True, 0.5])
        return [json.dumps(obj)]
    return [frame, rng.choice(HOSTILE)]


def session_frames(d: Dialect, audio: np.ndarray, rng: random.Random) -> list[str | bytes]:
    if rng.random() < 0.1:  # nothing but random frames
        return [rng.choice([rng.randbytes(rng.randrange(64)), "".join(chr(rng.randrange(32, 0x2FF)) for _ in
                                                                     range(rng.randrange(40))), rng.choice(HOSTILE)])
                for _ in range(rng.randrange(5, 60))]
    chunk = 800
    valid = [d.config, *(d.audio(audio[i:i + chunk]) for i in range(0, len(audio), chunk)), d.stop]
    frames: list[str | bytes] = []
    for frame in valid:
        frames += mutate(frame, rng) if rng.random() < 0.15 else [frame]
    return frames


async def run_session(stack: Stack, d: Dialect, frames: list[str | bytes], client_id: str,
                      rng: random.Random) -> tuple[int, int | None]:
    """(frames sent, close code the server sent or None)."""
    sent = 0
    try:
        async with websockets.connect(d.url(stack.bridges[d.name].port, client_id), max_size=None,
                                      open_timeout=30) as ws:
            async def drain() -> None:
                try:
                    async for _ in ws:
                        pass
                except websockets.ConnectionClosed:
                    pass

            reader = asyncio.create_task(drain())
            for frame in frames:
                if rng.random() < 0.002:  # rare: invalid UTF-8 in a text frame, or a 3 MB frame
                    frame = rng.choice([(b'{"\xff"}', True), ("x" * (3 << 20), None)])
                try:
                    if isinstance(frame, tuple):
                        await asyncio.wait_for(ws.send(frame[0], text=frame[1]), 10)
                    else:
                        await asyncio.wait_for(ws.send(frame), 10)
                except (websockets.ConnectionClosed, asyncio.TimeoutError):
                    break
                sent += 1
            try:
                await asyncio.wait_for(asyncio.shield(reader), 1.0)
            except asyncio.TimeoutError:
                pass
            await ws.close()
            reader.cancel()
            received = ws.protocol.close_rcvd
            return sent, received.code if received is not None else None
    except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake, asyncio.TimeoutError) as exc:
        log.warning("%s connect failed: %s", d.name, exc)
        return sent, None


async def fuzz(stack: Stack, target_frames: int, concurrency: int, seed: int, warmup: int) -> dict:
    clips = [speech(UTTERANCES[0]), noise(2.0, level=0.003, seed=seed)]
    dialects = list(DIALECTS.values())
    totals = {"frames": 0, "sessions": 0, "closes_1011": 0, "close_codes": {}}
    rss_before: dict = {}
    counter = 0
    lock = asyncio.Lock()

    async def worker(wid: int) -> None:
        nonlocal counter, rss_before
        wrng = random.Random(seed * 1000 + wid)
        while totals["frames"] < target_frames:
            counter += 1
            n = counter
            d = dialects[n % len(dialects)]
            clip = clips[0] if wrng.random() < 0.1 else clips[1]
            frames = session_frames(d, clip, wrng)
            sent, code = await run_session(stack, d, frames, f"fz-{n}", wrng)
            async with lock:
                totals["frames"] += sent
                totals["sessions"] += 1
                totals["close_codes"][str(code)] = totals["close_codes"].get(str(code), 0) + 1
                if code == 1011:
                    totals["closes_1011"] += 1
                if totals["sessions"] == warmup and not rss_before:
                    rss_before = stack.figures()
                if totals["sessions"] % 200 == 0:
                    print(f"  {totals['sessions']} sessions, {totals['frames']} frames", flush=True)

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    await asyncio.sleep(5)  # let the last sessions end everywhere
    return {**totals, "seconds": round(elapsed, 1), "rss_before": rss_before, "after": stack.figures(),
            **await health(stack, MAX_SESSIONS)}


def main() -> None:
    run_bench("fuzz", __doc__, ("--frames", 100_000, "frames to send in total (issue 8: 100,000)"), 48, 100,
              lambda stack, args: fuzz(stack, args.frames, args.concurrency, args.seed, args.warmup), MAX_SESSIONS)


if __name__ == "__main__":
    main()
