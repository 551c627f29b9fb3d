"""One small client per protocol for bench.protocol_latency: each streams the workload's audio at
real time through its protocol's own messages (plain grpc / websockets / asyncio streams) and
returns what arrived, as `Arrival`s: when, final or not, the text and, where the protocol says,
the stretch of audio it covers (seconds from the stream's start)."""
from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import grpc
import websockets
from asr.v1 import asr_pb2, asr_pb2_grpc
from google.cloud import speech_v1 as speech

from tests.audio_fixtures import SAMPLE_RATE

CHUNK = 1600  # 100 ms of 16 kHz audio: bench.latency's chunk, on every path alike


@dataclass
class Arrival:
    t: float  # time.monotonic() at arrival
    final: bool
    text: str
    start: float | None = None  # audio seconds; None: the protocol does not say
    end: float | None = None
    speech_final: bool = False  # Deepgram: the final closes the speaker's turn


@dataclass
class Pacer:
    """The audio as 16-bit PCM in 100 ms chunks, sent at real time; remembers when each chunk left."""

    pcm: bytes
    sent_at: list[float] = field(default_factory=list)

    @property
    def chunks(self) -> list[bytes]:
        return [self.pcm[i:i + CHUNK * 2] for i in range(0, len(self.pcm), CHUNK * 2)]

    async def paced(self) -> AsyncIterator[bytes]:
        t0 = time.monotonic()
        for i, chunk in enumerate(self.chunks):
            await asyncio.sleep(max(0.0, t0 + i * CHUNK / SAMPLE_RATE - time.monotonic()))
            self.sent_at.append(time.monotonic())
            yield chunk

    def chunk_time(self, seconds: float) -> float:
        """Send time of the chunk holding the audio at `seconds`."""
        return self.sent_at[min(int(seconds * SAMPLE_RATE) // CHUNK, len(self.sent_at) - 1)]


Client = Callable[[int, Pacer], Awaitable[list[Arrival]]]


def _secs(d) -> float:
    return d.seconds + d.nanos / 1e9


async def grpc_direct(port: int, pacer: Pacer) -> list[Arrival]:
    """The core's own API, as bench.latency drives it."""
    async def requests():
        yield asr_pb2.RecognizeRequest(config=asr_pb2.StreamingConfig(interim_results=True))
        async for chunk in pacer.paced():
            yield asr_pb2.RecognizeRequest(audio=chunk)

    out = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        async for resp in asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests()):
            if resp.WhichOneof("response") == "result" and resp.result.text:
                r = resp.result
                out.append(Arrival(time.monotonic(), r.is_final, r.text, _secs(r.start_offset), _secs(r.end_offset)))
    return out


DEEPGRAM_QUERY = "/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&interim_results=true&punctuate=true"


async def deepgram(port: int, pacer: Pacer) -> list[Arrival]:
    """Deepgram's live API: binary audio, `CloseStream`; `Results` with `start`/`duration`."""
    out = []
    async with websockets.connect(f"ws://127.0.0.1:{port}{DEEPGRAM_QUERY}") as ws:
        async def send() -> None:
            async for chunk in pacer.paced():
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "CloseStream"}))

        sending = asyncio.create_task(send())
        async for message in ws:
            m = json.loads(message)
            text = m["channel"]["alternatives"][0]["transcript"] if m.get("type") == "Results" else ""
            if text:
                out.append(Arrival(time.monotonic(), m["is_final"], text, m["start"], m["start"] + m["duration"],
                                   speech_final=m["speech_final"]))
        await sending
    return out


async def vosk(port: int, pacer: Pacer) -> list[Arrival]:
    """Vosk's server protocol at 16 kHz with words: one reply per audio frame (a partial, or a
    result at an endpoint), `{"eof" : 1}`, the last result, close."""
    out = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send(json.dumps({"config": {"sample_rate": SAMPLE_RATE, "words": 1}}))

        async def send() -> None:
            async for chunk in pacer.paced():
                await ws.send(chunk)
            await ws.send('{"eof" : 1}')

        sending = asyncio.create_task(send())
        async for message in ws:
            m = json.loads(message)
            final = "text" in m
            words = m.get("result" if final else "partial_result") or []
            text = m.get("text" if final else "partial", "")
            if text:
                out.append(Arrival(time.monotonic(), final, text, words[0]["start"] if words else None,
                                   words[-1]["end"] if words else None))
        await sending
    return out


async def _wyoming_write(writer: asyncio.StreamWriter, kind: str, data: dict, payload: bytes = b"") -> None:
    """One event as the `wyoming` package frames it: a JSON header line, the data, the payload."""
    body = json.dumps(data).encode()
    header = {"type": kind, "version": "1.10.2", "data_length": len(body), "payload_length": len(payload)}
    writer.write(json.dumps(header).encode() + b"\n" + body + payload)
    await writer.drain()


async def _wyoming_read(reader: asyncio.StreamReader) -> tuple[str, dict]:
    header = json.loads(await reader.readline())
    data = dict(header.get("data") or {})
    if header.get("data_length"):
        data.update(json.loads(await reader.readexactly(header["data_length"])))
    if header.get("payload_length"):
        await reader.readexactly(header["payload_length"])
    return header["type"], data


async def wyoming(port: int, pacer: Pacer) -> list[Arrival]:
    """Wyoming over TCP: transcribe, audio-start, audio-chunks, audio-stop; each
    `transcript-chunk` (a core final, no times) until `transcript-stop`."""
    out = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fmt = {"rate": SAMPLE_RATE, "width": 2, "channels": 1}
    try:
        await _wyoming_write(writer, "transcribe", {"language": "en"})
        await _wyoming_write(writer, "audio-start", fmt)

        async def send() -> None:
            async for chunk in pacer.paced():
                await _wyoming_write(writer, "audio-chunk", fmt, chunk)
            await _wyoming_write(writer, "audio-stop", {})

        sending = asyncio.create_task(send())
        while (event := await _wyoming_read(reader))[0] != "transcript-stop":
            if event[0] == "transcript-chunk" and event[1].get("text", "").strip():
                out.append(Arrival(time.monotonic(), True, event[1]["text"].strip()))
            elif event[0] == "error":
                raise RuntimeError(f"wyoming error: {event[1]}")
        await sending
    finally:
        writer.close()
        await writer.wait_closed()
    return out


GOOGLE_METHOD = "/google.cloud.speech.v1.Speech/StreamingRecognize"


async def google_speech(port: int, pacer: Pacer) -> list[Arrival]:
    """Google Cloud Speech v1 `StreamingRecognize` on a plain grpc channel with Google's own
    messages; finals carry word times, interim results their `result_end_time`."""
    request, response = speech.StreamingRecognizeRequest.pb(), speech.StreamingRecognizeResponse.pb()
    config = speech.StreamingRecognitionConfig(interim_results=True, config=speech.RecognitionConfig(
        encoding="LINEAR16", sample_rate_hertz=SAMPLE_RATE, language_code="en-US", enable_word_time_offsets=True,
        enable_automatic_punctuation=True))

    async def requests():
        yield request(streaming_config=speech.StreamingRecognitionConfig.pb(config))
        async for chunk in pacer.paced():
            yield request(audio_content=chunk)

    out = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(GOOGLE_METHOD, request_serializer=request.SerializeToString,
                                     response_deserializer=response.FromString)
        async for resp in call(requests()):
            for r in resp.results:
                alt = r.alternatives[0] if r.alternatives else None
                if alt is None or not alt.transcript:
                    continue
                start = _secs(alt.words[0].start_time) if alt.words else None
                out.append(Arrival(time.monotonic(), r.is_final, alt.transcript.strip(), start,
                                   _secs(r.result_end_time)))
    return out


OPENAI_RATE = 24000  # the GA session's `audio/pcm`
OPENAI_QUIET_SECONDS = 10.0  # after the audio: how long to wait for the last items' `completed`


async def openai_realtime(port: int, pacer: Pacer) -> list[Arrival]:
    """OpenAI's Realtime transcription session (GA shape, server VAD): `session.update`, then
    `input_audio_buffer.append` (24 kHz PCM, base64) per chunk; a `delta` is a partial covering
    the item's audio so far, `completed` the item's final, timed by its `speech_started` /
    `speech_stopped`. The socket closes once every item has completed."""
    import base64

    import numpy as np
    import soxr

    spans: dict[str, list[float]] = {}  # item_id -> [start, end] in audio seconds
    out: list[Arrival] = []
    sent = asyncio.Event()
    async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription") as ws:
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": OPENAI_RATE}, "transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": {"type": "server_vad"}}}}}))

        async def send() -> None:
            upsample = soxr.ResampleStream(SAMPLE_RATE, OPENAI_RATE, 1, dtype="int16")
            async for chunk in pacer.paced():
                wide = upsample.resample_chunk(np.frombuffer(chunk, np.int16))
                await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                          "audio": base64.b64encode(wide.tobytes()).decode()}))
            sent.set()

        async def receive() -> None:
            async for message in ws:
                m = json.loads(message)
                kind, item = m["type"], m.get("item_id", "")
                if kind == "input_audio_buffer.speech_started":
                    spans[item] = [m["audio_start_ms"] / 1000, math.inf]
                elif kind == "input_audio_buffer.speech_stopped":
                    spans.setdefault(item, [0.0, 0.0])[1] = m["audio_end_ms"] / 1000
                elif kind.endswith("input_audio_transcription.delta") and m["delta"].strip():
                    start = spans.get(item, [0.0])[0]
                    out.append(Arrival(time.monotonic(), False, m["delta"], start, len(pacer.sent_at) * CHUNK / SAMPLE_RATE))
                elif kind.endswith("input_audio_transcription.completed"):
                    start, end = spans.pop(item, [0.0, 0.0])
                    if m["transcript"].strip():
                        out.append(Arrival(time.monotonic(), True, m["transcript"].strip(), start, end))
                    if sent.is_set() and not spans:
                        return
                elif kind == "error":
                    raise RuntimeError(f"openai realtime error: {m['error']}")

        sending = asyncio.create_task(send())
        receiving = asyncio.create_task(receive())
        await sending
        await asyncio.wait([receiving], timeout=OPENAI_QUIET_SECONDS)  # items still open after this are lost
        receiving.cancel()
    return out
