"""One WhisperLive-protocol benchmark client, used unchanged against every server.

Per stream it sends the options frame (the keys of the whisper-live 0.10.0 client), waits for
SERVER_READY, streams float32 16 kHz audio in 4096-sample frames paced at real time, waits for
the tail to settle, sends END_OF_AUDIO and records every message with its arrival time.

Timing (all `time.monotonic()`, one clock for sends and arrivals):
  final latency     = first arrival of a completed segment - send time of the frame holding its `end`
  utterance latency = first arrival of the last-ending completed segment of a reference utterance
                      (segments belong to the utterance they overlap most) - send time of the frame
                      holding the utterance's true end; comparable with bench.latency's final latency
  partial lag       = first arrival of each distinct partial (start, end, text) as the last segment
                      of a message - send time of the frame holding that partial's `end`
After the workload the client keeps streaming silence at real time (a live microphone) until the
last utterance is completed, no message came for `drain_quiet` s, or `drain_max` s passed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed

from tests.audio_fixtures import SAMPLE_RATE, wer

from .common import Workload

log = logging.getLogger("bench.wl_client")

FRAME = 4096
END_OF_AUDIO = b"END_OF_AUDIO"


def options_frame(uid: str, model: str = "tiny.en") -> str:
    """The options the 0.10.0 client sends, with its defaults except language, model and VAD."""
    return json.dumps({
        "uid": uid, "language": "en", "task": "transcribe", "model": model, "use_vad": True,
        "send_last_n_segments": 10, "no_speech_thresh": 0.45, "clip_audio": False,
        "same_output_threshold": 10, "enable_translation": False, "target_language": "fr",
        "hotwords": None, "enable_diarization": False, "max_speakers": 10, "known_speakers": [],
        "word_timestamps": False, "initial_prompt": None, "vad_parameters": None,
    })


@dataclass
class ClientSettings:
    ready_timeout: float = 60.0   # no SERVER_READY by then: the stream counts as turned away
    # After the last frame: stop waiting once no message came for this long (the 0.10.0 client
    # waits 15 s without a change; a loaded reference server sends a message every few seconds)...
    drain_quiet: float = 15.0
    drain_max: float = 60.0       # ... or after this long in any case
    close_timeout: float = 10.0   # after END_OF_AUDIO: wait this long for the server to close
    drain_silence: bool = True    # while draining, keep streaming silent frames at real time


@dataclass
class StreamResult:
    outcome: str                  # served | wait | error | no_ready | failed
    detail: str = ""
    ready_seconds: float = float("nan")
    final_latency: list[float] = field(default_factory=list)
    utterance_latency: list[float] = field(default_factory=list)
    partial_lag: list[float] = field(default_factory=list)
    wer: float | None = None
    text: str = ""
    messages: int = 0
    completed_segments: int = 0
    utterances_missed: int = 0

    @property
    def served(self) -> bool:
        return self.outcome == "served"


@dataclass
class Recording:
    sent_at: list[float] = field(default_factory=list)               # per frame, after ws.send returned
    arrivals: list[tuple[float, dict]] = field(default_factory=list)  # (arrival, segments message)


def analyse(rec: Recording, wl: Workload, frame: int = FRAME) -> StreamResult:
    """Latencies and WER of one served stream from its send times and segment messages."""
    def frame_sent(t: float) -> float:
        """Send time of the frame holding the sample just before `t` (an end on a frame boundary
        belongs to the frame it closes)."""
        last_sample = max(0, math.ceil(round(t * SAMPLE_RATE, 6)) - 1)
        return rec.sent_at[min(last_sample // frame, len(rec.sent_at) - 1)]

    first_done: dict[tuple[str, str], tuple[float, dict]] = {}
    partials_seen: set[tuple[str, str, str]] = set()
    partial_lag: list[float] = []
    for arrived, msg in rec.arrivals:
        segs = msg["segments"]
        for seg in segs:
            key = (seg["start"], seg["end"])
            if seg.get("completed") and key not in first_done:
                first_done[key] = (arrived, seg)
        # A partial re-sent unchanged carries nothing new: only its first arrival counts.
        # Our bridge echoes a just-completed segment as the partial too (see bridges/whisperlive):
        # that echo is not a partial.
        if segs and not segs[-1].get("completed"):
            tail = segs[-1]
            key3 = (tail["start"], tail["end"], tail["text"])
            echo = any(s.get("completed") and (s["start"], s["end"], s["text"]) == key3 for s in segs[:-1])
            if not echo and key3 not in partials_seen:
                partials_seen.add(key3)
                partial_lag.append(arrived - frame_sent(float(tail["end"])))

    done = sorted(first_done.values(), key=lambda a: float(a[1]["start"]))
    final = [arrived - frame_sent(float(seg["end"])) for arrived, seg in done]
    # The 0.10.0 client keeps a completed segment only if it starts at or after the last kept end.
    kept, last_end = [], -1.0
    for _, seg in done:
        if float(seg["start"]) >= last_end:
            kept.append(seg["text"].strip())
            last_end = float(seg["end"])
    text = " ".join(t for t in kept if t)

    # Each completed segment belongs to the utterance it overlaps most (the reference's
    # repeat-completed segments start at the previous segment's end, so they graze the one before);
    # an utterance is final when the last-ending segment it owns has arrived.
    owned: dict[int, list[tuple[float, dict]]] = {}
    for arrived, seg in done:
        s0, s1 = float(seg["start"]), float(seg["end"])
        overlaps = [min(s1, e) - max(s0, b) for b, e in wl.spans]
        best = max(range(len(overlaps)), key=overlaps.__getitem__)
        if overlaps[best] > 0:
            owned.setdefault(best, []).append((arrived, seg))
    utterance = [max(owned[i], key=lambda a: float(a[1]["end"]))[0] - frame_sent(wl.spans[i][1]) for i in sorted(owned)]
    missed = len(wl.spans) - len(owned)
    return StreamResult("served", final_latency=final, utterance_latency=utterance, partial_lag=partial_lag,
                        wer=wer(" ".join(wl.texts), text), text=text, messages=len(rec.arrivals),
                        completed_segments=len(done), utterances_missed=missed)


async def _await_ready(ws, settings: ClientSettings) -> tuple[str, str]:
    """('ready', '') or the reason the server turned the stream away."""
    deadline = time.monotonic() + settings.ready_timeout
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return "no_ready", f"no SERVER_READY within {settings.ready_timeout:.0f}s"
        except ConnectionClosed as exc:
            return "no_ready", f"closed before SERVER_READY ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        msg = json.loads(raw)
        if msg.get("message") == "SERVER_READY":
            return "ready", ""
        if msg.get("status") == "WAIT":
            return "wait", f"WAIT {msg.get('message')} min"
        if msg.get("status") == "ERROR":
            return "error", str(msg.get("message"))
        log.info("before SERVER_READY: %s", msg)


async def _receive(ws, rec: Recording, notes: list[str]) -> None:
    try:
        async for raw in ws:
            arrived = time.monotonic()
            msg = json.loads(raw)
            if "segments" in msg:
                rec.arrivals.append((arrived, msg))
            elif msg.get("message") == "DISCONNECT" or msg.get("status"):
                notes.append(f"{msg.get('status', '')} {msg.get('message')}".strip())
    except ConnectionClosed:
        pass


def _settled(rec: Recording, wl: Workload) -> bool:
    """The last utterance is covered by a completed segment and nothing is partial any more
    (a trailing partial that only echoes a completed segment counts as nothing)."""
    if not rec.arrivals:
        return False
    segs = rec.arrivals[-1][1]["segments"]
    done = [s for s in segs if s.get("completed")]
    keys = {(s["start"], s["end"], s["text"]) for s in done}
    open_ = [s for s in segs if not s.get("completed") and (s["start"], s["end"], s["text"]) not in keys]
    return bool(done) and not open_ and float(done[-1]["end"]) > wl.spans[-1][0]


async def run_stream(url: str, wl: Workload, settings: ClientSettings | None = None,
                     realtime: bool = True) -> StreamResult:
    settings = settings or ClientSettings()
    audio = np.asarray(wl.audio, dtype="<f4")
    frames = [audio[i:i + FRAME].tobytes() for i in range(0, len(audio), FRAME)]
    uid = str(uuid.uuid4())
    rec, notes = Recording(), []
    try:
        async with websockets.connect(url, max_size=None, ping_interval=None, open_timeout=30,
                                      close_timeout=settings.close_timeout) as ws:
            asked = time.monotonic()
            await ws.send(options_frame(uid))
            state, detail = await _await_ready(ws, settings)
            if state != "ready":
                return StreamResult(state, detail)
            ready = time.monotonic() - asked
            receiver = asyncio.create_task(_receive(ws, rec, notes))
            t0 = time.monotonic()
            for i, chunk in enumerate(frames):
                if realtime:
                    await asyncio.sleep(max(0.0, t0 + i * FRAME / SAMPLE_RATE - time.monotonic()))
                await ws.send(chunk)
                rec.sent_at.append(time.monotonic())
            # Drain like a live microphone: keep sending silence at real time until the tail is
            # completed. The reference completes a trailing segment only after its text repeats
            # `same_output_threshold` times, and drops anything still open at END_OF_AUDIO.
            audio_end, silence, i = rec.sent_at[-1], bytes(FRAME * 4), len(frames)
            while not receiver.done():
                now = time.monotonic()
                last_msg = max([audio_end] + [a for a, _ in rec.arrivals[-1:]])
                if _settled(rec, wl) or now - last_msg >= settings.drain_quiet or now - audio_end >= settings.drain_max:
                    break
                if not settings.drain_silence:
                    await asyncio.sleep(0.05)
                    continue
                await asyncio.sleep(max(0.0, t0 + i * FRAME / SAMPLE_RATE - time.monotonic()))
                await ws.send(silence)
                rec.sent_at.append(time.monotonic())
                i += 1
            if not receiver.done():
                await ws.send(END_OF_AUDIO)
                try:
                    await asyncio.wait_for(asyncio.shield(receiver), settings.close_timeout)
                except TimeoutError:
                    notes.append(f"server kept the socket open {settings.close_timeout:.0f}s after END_OF_AUDIO")
            receiver.cancel()
    except (OSError, ConnectionClosed, websockets.InvalidHandshake) as exc:
        if not rec.sent_at:
            return StreamResult("failed", f"{type(exc).__name__}: {exc}")
        notes.append(f"connection lost mid-stream: {type(exc).__name__}: {exc}")
    result = analyse(rec, wl)
    result.ready_seconds = ready
    result.detail = "; ".join(notes)
    return result
