"""A small dialect for the transport tests: the client's audio (16 kHz mono PCM16) goes to the
core, the transcript comes back. One codec, served over each transport:

- WebSocket (`WS_SPEC`): /v1/stream, binary audio frames, `{"type": "end"}`; JSON messages back;
- HTTP (`HTTP_SPEC`): POST /v1/transcribe (body = audio; answer `{"text": ...}`), POST
  /v1/events (body = audio; a `final` event per final result, then `done` with the
  transcript), WebSocket /v1/stream (binary audio frames, `{"type": "end"}`; JSON messages);
- raw TCP (`TCP_SPEC`): Wyoming-style framing, `{"type": "audio", "payload_length": N}` + N
  bytes, the client's half-close ends the audio; an optional first `{"type": "auth", "token":
  ...}` carries the API key; JSON lines back;
- gRPC (`GRPC_SPEC`): /test.Transcriber/Transcribe (unary: BytesValue -> StringValue) and
  /test.Transcriber/Stream (bidi: BytesValue chunks -> a StringValue per final result, then
  the transcript);
- static files: tests/bridges/web/ at /web/ (HTTP).

Errors are `{"type": "error", "error": ...}` (JSON transports) and the fault of
bridges/faults.py, mapped by each transport. Run one as a process:
`python -m tests.bridges.transcribe_dialect --port P --core H:P ... --transport {websocket,http,tcp,grpc}`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from asr.v1 import asr_pb2
from bridges.codec import Action, Codec, EndAudio, StartStream, send_audio
from bridges.endings import client_fault, normal
from bridges.faults import CoreError, error_ending
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec
from bridges.transport import SendEvent, SendJson, SendMessage
from bridges.transports.framing import HeaderPayloadFramer
from bridges.transports.grpc import GrpcMethod
from bridges.transports.http import HttpOptions, HttpRoute, RouteKind, StaticDirectory
from bridges.transports.tcp import TcpOptions

TRANSCRIBE = "/test.Transcriber/Transcribe"
STREAM = "/test.Transcriber/Stream"
WEB = Path(__file__).parent / "web"  # static files of the HTTP dialect, at /web/


class TranscribeCodec(Codec):
    """`mode`: how results go back: "json" (one JSON answer), "events" (SSE), "lines" (JSON
    messages as they come: TCP, WebSocket), "unary"/"stream" (gRPC StringValues)."""

    def __init__(self, mode: str, engine: str) -> None:
        self.mode = mode
        self.engine = engine
        self.finals: list[str] = []
        self.odd = b""  # a body chunk may end inside a sample: its first byte waits for the next
        self.sent = False

    def connected(self) -> list[Action]:
        return [StartStream(asr_pb2.StreamingConfig(engine=self.engine, language="en",
                                                    encoding=asr_pb2.AUDIO_ENCODING_LINEAR16,
                                                    sample_rate_hertz=16000, audio_channel_count=1))]

    def received_bytes(self, data: bytes) -> list[Action]:
        data = self.odd + data
        whole = len(data) - len(data) % 2
        self.odd = data[whole:]
        return send_audio(data[:whole])

    def received_text(self, text: str) -> list[Action]:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind in ("audio", "auth"):
            return []  # the payload follows as bytes; the token was read before the session
        if kind == "end":
            return [EndAudio()]
        return [self._send({"type": "error", "error": "send audio or {\"type\": \"end\"}"}),
                client_fault("unknown message")]

    def received_message(self, message: Message) -> list[Action]:
        return send_audio(message.value)

    def core_response(self, response: asr_pb2.RecognizeResponse) -> list[Action]:
        if response.WhichOneof("response") != "result" or not response.result.is_final:
            return []
        text = response.result.text.strip()
        self.finals.append(text)
        self.sent = True
        if self.mode == "events":
            return [SendEvent(json.dumps({"text": text}), event="final")]
        if self.mode == "lines":
            return [SendJson({"type": "final", "text": text})]
        if self.mode == "stream":
            return [SendMessage(wrappers_pb2.StringValue(value=text))]
        return []

    def core_finished(self) -> list[Action]:
        transcript = " ".join(t for t in self.finals if t)
        if self.mode in ("unary", "stream"):
            return [SendMessage(wrappers_pb2.StringValue(value=transcript)), normal()]
        if self.mode == "events":
            return [SendEvent(json.dumps({"text": transcript}), event="done"), normal()]
        return [self._send({"type": "done", "text": transcript} if self.mode == "lines" else {"text": transcript}),
                normal()]

    def core_error(self, error: CoreError) -> list[Action]:
        """gRPC: the status says it all; an event stream that has not begun: its HTTP status
        (the transport's JSON error body); otherwise the dialect's error message first."""
        quiet = self.mode in ("unary", "stream") or (self.mode == "events" and not self.sent)
        actions: list[Action] = [] if quiet else [self._send({"type": "error", "error": error.message})]
        return [*actions, error_ending(error, error.message)]

    def _send(self, payload: dict[str, Any]) -> Action:
        return SendEvent(json.dumps(payload), event="error") if self.mode == "events" else SendJson(payload)


HTTP_MODES = {"/v1/transcribe": "json", "/v1/events": "events", "/v1/stream": "lines"}


def http_codec(info: ConnectionInfo, context: BridgeContext) -> TranscribeCodec:
    return TranscribeCodec(HTTP_MODES[info.path], context.options.engine)


def lines_codec(info: ConnectionInfo, context: BridgeContext) -> TranscribeCodec:
    return TranscribeCodec("lines", context.options.engine)


def grpc_codec(info: ConnectionInfo, context: BridgeContext) -> TranscribeCodec:
    return TranscribeCodec("unary" if info.path == TRANSCRIBE else "stream", context.options.engine)


def token_of(first: list) -> dict[str, str]:
    """The TCP dialect's credentials hook: `{"type": "auth", "token": KEY}` as the first message."""
    try:
        message = json.loads(first[0]) if first and isinstance(first[0], str) else {}
    except json.JSONDecodeError:
        return {}
    token = message.get("token") if isinstance(message, dict) and message.get("type") == "auth" else None
    return {"Authorization": f"Bearer {token}"} if isinstance(token, str) else {}


HTTP_SPEC = DialectSpec(
    name="transcribe_http", path="/v1/{endpoint}", default_port=0, codec_factory=http_codec, transport="http",
    transport_options={"http": HttpOptions(routes=(
        HttpRoute("/v1/transcribe", RouteKind.EXCHANGE), HttpRoute("/v1/events", RouteKind.EVENTS),
        HttpRoute("/v1/stream", RouteKind.WEBSOCKET)), static=StaticDirectory("/web", str(WEB)))})
TCP_SPEC = DialectSpec(
    name="transcribe_tcp", path="/", default_port=0, codec_factory=lines_codec, transport="tcp",
    transport_options={"tcp": TcpOptions(framer=HeaderPayloadFramer(), credentials=token_of)})
WS_SPEC = DialectSpec(
    name="transcribe_websocket", path="/v1/stream", default_port=0, codec_factory=lines_codec, transport="websocket")
GRPC_SPEC = DialectSpec(
    name="transcribe_grpc", path="/test.Transcriber/{method}", default_port=0, codec_factory=grpc_codec,
    transport="grpc", transport_options={"grpc": (
        GrpcMethod(TRANSCRIBE, wrappers_pb2.BytesValue, wrappers_pb2.StringValue, streaming=False),
        GrpcMethod(STREAM, wrappers_pb2.BytesValue, wrappers_pb2.StringValue))})
SPECS = {"websocket": WS_SPEC, "http": HTTP_SPEC, "tcp": TCP_SPEC, "grpc": GRPC_SPEC}

if __name__ == "__main__":
    from bridges.cli import main

    argv = sys.argv[1:]
    at = argv.index("--transport")
    transport = argv[at + 1]
    main(SPECS[transport], argv[:at] + argv[at + 2:])
