"""One small driver per dialect for the hardening tests and benches: how to open a session,
stream audio, end it, and recognise the dialect's error shape (docs/limits.md, issue 8)."""
from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import websockets

from tests.audio_fixtures import to_float32, to_pcm16

WL_UID = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"


def _funasr_audio(pcm: bytes) -> str:
    return json.dumps({"type": "audio_chunk", "data": base64.b64encode(pcm).decode()})


@dataclass(frozen=True)
class Dialect:
    name: str
    path: str  # {id} is replaced by a fresh client id
    config: str  # the frame that starts a session
    stop: str | bytes  # the frame that ends the audio
    audio: Callable[[np.ndarray], str | bytes]  # one audio frame in the dialect's encoding
    is_error: Callable[[dict[str, Any]], bool]
    greets: bool = False  # sends a message right after the upgrade (rnnt's "connection")
    replies_to_audio: bool = False  # funasr answers every audio_chunk
    extra_flags: tuple[str, ...] = field(default_factory=tuple)
    # The dialect's documented answer to a session start (docs/bridges.md); None: it answers
    # a config with nothing (nexa).
    answered: Callable[[list[dict[str, Any]]], bool] | None = None
    # The flag of the dialect's own session cap, which benches open wide.
    capacity_flag: str | None = None

    def url(self, port: int, client_id: str = "c1", host: str = "127.0.0.1") -> str:
        return f"ws://{host}:{port}{self.path.replace('{id}', client_id)}"


def _type_error(message: dict[str, Any]) -> bool:
    return message.get("type") == "error"


DIALECTS = {
    "nexa": Dialect("nexa", "/v1/audio/stream", json.dumps({}), json.dumps({"action": "stop"}),
                    lambda a: to_pcm16(a), _type_error),
    "google_stt": Dialect("google_stt", "/ws/asr-stream", json.dumps({"language_code": "en-US"}),
                          json.dumps({"type": "end"}), lambda a: to_pcm16(a), _type_error,
                          extra_flags=("--end-after-silence", "30"),
                          answered=lambda m: bool(m) and {"type": "metadata", "status": "ready"}.items() <= m[0].items()),
    "rnnt": Dialect("rnnt", "/ws/transcribe", json.dumps({"type": "start_recording"}),
                    json.dumps({"type": "stop_recording"}), lambda a: to_pcm16(a), _type_error, greets=True,
                    extra_flags=("--max-message-bytes", "65536"),
                    answered=lambda m: [x.get("type") for x in m[:2]] == ["connection", "recording_started"]),
    "funasr": Dialect("funasr", "/ws/{id}", json.dumps({"type": "start_recording"}),
                      json.dumps({"type": "stop_recording"}), lambda a: _funasr_audio(to_pcm16(a)), _type_error,
                      replies_to_audio=True, extra_flags=("--language", "en"),  # the test speech is English
                      answered=lambda m: bool(m) and m[0].get("type") == "status"
                      and m[0].get("code") == "SESSION_STARTED"),
    "whisperlive": Dialect("whisperlive", "/", json.dumps({"uid": WL_UID, "language": "en", "task": "transcribe",
                                                           "model": "tiny.en", "use_vad": True}),
                           b"END_OF_AUDIO", lambda a: to_float32(a),
                           lambda m: m.get("status") in ("ERROR", "WARNING"), extra_flags=("--max-clients", "64"),
                           answered=lambda m: bool(m) and m[0].get("message") == "SERVER_READY",
                           capacity_flag="--max-clients"),
    # Vosk answers each audio frame (a partial or a result) and no config; 16 kHz here, as the
    # test speech (the bridge's default without a config is 8 kHz).
    "vosk": Dialect("vosk", "/", json.dumps({"config": {"sample_rate": 16000}}), '{"eof" : 1}',
                    lambda a: to_pcm16(a), lambda m: "error" in m, replies_to_audio=True),
}


# Dialects on another transport that also serve a WebSocket (the stack's probe drives them; the
# hardening tests' issue 8 list is written for config-first WebSocket dialects).
HTTP_WEBSOCKET_DIALECTS = {
    "deepgram": Dialect("deepgram", "/v1/listen?encoding=linear16&sample_rate=16000", json.dumps({"type": "KeepAlive"}),
                        json.dumps({"type": "CloseStream"}), lambda a: to_pcm16(a),
                        lambda m: m.get("type") == "Error"),
}


def bad_inputs(d: Dialect) -> dict[str, tuple[list[str | bytes], bool]]:
    """name -> (frames, send the config first). Issue 8's list, in this dialect's terms."""
    odd = _funasr_audio(b"\x01\x02\x03") if d.name == "funasr" else b"\x01\x02\x03"
    wrong_type = {"nexa": '{"sample_rate": "fast"}', "google_stt": '{"language_code": 7}',
                  "rnnt": '{"type": "start_recording", "config": {"sample_rate": "fast"}}',
                  "funasr": '{"type": "start_recording", "sample_rate": [1]}',
                  "whisperlive": '{"uid": "u1", "language": "en", "task": 5, "model": "tiny.en"}',
                  "vosk": '{"config": {"sample_rate": "fast"}}'}[d.name]
    number_field = {"nexa": "sample_rate", "google_stt": "sample_rate_hertz", "rnnt": "vad_threshold",
                    "funasr": "sample_rate", "whisperlive": "send_last_n_segments", "vosk": "sample_rate"}[d.name]
    base = json.loads(d.config)
    if d.name == "rnnt":
        base = {"type": "configure"}

    def with_number(literal: str) -> str:
        return json.dumps({**base, number_field: "@"}).replace('"@"', literal)

    cases = {
        "deeply nested JSON": (["[" * 5000], False),
        "JSON array": (["[1, 2]"], False),
        "JSON number": (["42"], False),
        "JSON string": (['"hello"'], False),
        "JSON null": (["null"], False),
        "field of the wrong type": ([wrong_type], False),
        "NaN": ([with_number("NaN")], d.name == "rnnt"),
        "Infinity": ([with_number("-Infinity")], d.name == "rnnt"),
        "huge number": ([with_number("9" * 400)], d.name == "rnnt"),
        "empty text frame": ([""], False),
        "empty binary frame": ([b""], True),
        "binary where JSON is expected": ([b"\x01\x02"], False),
        "text where audio is expected": (["hello"], True),
        "audio of odd length": ([odd], True),
        "audio before config": ([d.audio(np.zeros(1600, dtype=np.float32))], False),
        "second config": ([d.config], True),
        "unknown message type": (['{"type": "bogus", "action": "bogus"}'], True),
        "audio after stop": ([d.stop, d.audio(np.zeros(1600, dtype=np.float32))], True),
    }
    if d.name == "vosk":  # its config is optional and may be repeated before the audio, as asr_server.py allows
        del cases["binary where JSON is expected"], cases["audio before config"]
        cases["second config"] = ([d.audio(np.zeros(1600, dtype=np.float32)), d.config], True)  # after audio
    return cases


async def collect(ws: websockets.ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Messages for `seconds` or until the server closes."""
    messages: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while (remaining := deadline - loop.time()) > 0:
            raw = await asyncio.wait_for(ws.recv(), remaining)
            messages.append(json.loads(raw))
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    return messages
