"""A small asyncio SDK for `asr.v1.RecognizerService`.

    async with RecognizerClient("localhost:50051") as client:
        async for event in client.stream(mic_chunks(), StreamConfig(interim_results=True)):
            if isinstance(event, Result) and event.is_final:
                print(event.text)

Audio goes in as an async (or plain) iterable of raw bytes in the configured encoding;
`Finalize()` / `UpdateSettings(...)` objects may be mixed into it as in-stream controls.
Typed events come out. A call that fails raises `RecognizerError` (see errors.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Union

import grpc

from asr.v1 import asr_pb2, asr_pb2_grpc

from .audio import SAMPLE_RATE, channel_count, probe, read_chunks, read_pieces
from .call_status import CallStatus
from .errors import RecognizerError, from_rpc_error
from .targets import channel_options, parse_target
from .waiting import DEFAULT_WAIT, NO_WAIT, WaitPolicy, Waiter
from .types import (
    Control,
    EngineList,
    Event,
    Finalize,
    Result,
    SessionStarted,
    StreamConfig,
    Summary,
    UpdateSettings,
    engines_from_proto,
    event_from_proto,
)

log = logging.getLogger(__name__)

DEFAULT_SERVER = "localhost:50051"
StreamItem = Union[bytes, Control]


def default_address() -> str:
    """$ASR_SERVER, else localhost:50051."""
    return os.environ.get("ASR_SERVER") or DEFAULT_SERVER


def default_api_key() -> str | None:
    """$ASR_API_KEY, else no key."""
    return os.environ.get("ASR_API_KEY") or None


def open_channel(address: str, *, tls: bool = False, ca: str | Path | None = None,
                 options: Iterable[tuple[str, object]] = ()) -> grpc.aio.Channel:
    """A balanced channel to the gRPC target `address` (clients/targets.py): plaintext, or with `tls`
    (or a `ca` PEM to trust) TLS. `options` are added to the round_robin/health-check ones."""
    target = parse_target(address)
    options = channel_options() + list(options)
    if not (tls or ca):
        return grpc.aio.insecure_channel(target, options=options)
    try:
        roots = Path(ca).read_bytes() if ca else None  # None = the system's trusted roots
    except OSError as exc:
        raise ValueError(f"cannot read the CA file {ca}: {exc.strerror or exc}") from None
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(roots), options=options)


@dataclass
class Transcript:
    """The outcome of a whole recognition session."""

    text: str
    segments: list[Result] = field(default_factory=list)  # final results, in order
    session: SessionStarted | None = None
    summary: Summary | None = None

    @property
    def audio_duration(self) -> float:
        return self.summary.audio_processed if self.summary else 0.0


class RecognizerClient:
    """One gRPC channel to the cores; many concurrent `stream` calls may share it.

    `address` is a gRPC target (clients/targets.py): `host:port[,host:port]`, `dns:///host:port`,
    `ipv4:a:p,b:p`, `ipv6:...` or `unix:path`. Calls are spread round robin over the healthy cores.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        timeout: float | None = None,
        channel: grpc.aio.Channel | None = None,
        options: Iterable[tuple[str, object]] = (),
        tls: bool = False,
        ca: str | Path | None = None,
        api_key: str | None = None,
    ) -> None:
        self.address = address or default_address()
        self.timeout = timeout  # per-call deadline in seconds; None = no deadline
        self._channel = channel or open_channel(self.address, tls=tls, ca=ca, options=options)
        api_key = api_key or default_api_key()
        # Sent as call metadata: works on TLS and plaintext channels alike (a plaintext channel
        # on a network exposes the key, hence TLS whenever the server is not on this machine).
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self._stub = asr_pb2_grpc.RecognizerServiceStub(self._channel)

    async def __aenter__(self) -> RecognizerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def list_engines(self, *, wait: WaitPolicy = NO_WAIT) -> EngineList:
        """The server's engines and models; with `wait`, waits for a starting or busy server."""
        waiter = Waiter(wait)
        while True:
            try:
                reply = await self._stub.ListEngines(asr_pb2.ListEnginesRequest(), timeout=self.timeout or 30.0,
                                                      metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                error = from_rpc_error(exc, self.address)
                delay = waiter.delay(error)
                if delay is None:
                    raise error from None
                await asyncio.sleep(delay)
                continue
            return engines_from_proto(reply)

    async def stream(
        self,
        audio_chunks: AsyncIterable[StreamItem] | Iterable[StreamItem],
        config: StreamConfig | None = None,
        *,
        wait: WaitPolicy = NO_WAIT,
    ) -> AsyncIterator[Event]:
        """Run one Recognize call: send `config`, then every item of `audio_chunks`, then
        half-close; yield each server event as it arrives, ending after the Summary.

        An exception raised by `audio_chunks` cancels the call and is re-raised here.
        With `wait` (clients/waiting.py), a call the server turns away before the session
        starts (busy, or still loading its models: an error with a retry delay) is tried
        again within the policy's deadline; no audio has been taken from `audio_chunks` by
        then (audio follows the server's acceptance), so it is sent whole on the new call.
        By default the first such error is raised, as a bridge needs.
        """
        config = config or StreamConfig()
        waiter = Waiter(wait)
        while True:
            started = False
            try:
                async with aclosing(self._stream_once(audio_chunks, config)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except RecognizerError as error:
                delay = None if started else waiter.delay(error)
                if delay is None:
                    raise
            await asyncio.sleep(delay)

    async def _stream_once(
        self,
        audio_chunks: AsyncIterable[StreamItem] | Iterable[StreamItem],
        config: StreamConfig,
    ) -> AsyncIterator[Event]:
        """One Recognize call (see `stream`)."""
        call = self._stub.Recognize(timeout=self.timeout, metadata=self._metadata)
        status = CallStatus(call)  # the call's own status, should a write race its end
        accepted = asyncio.Event()
        writer = asyncio.create_task(self._write(call, config, audio_chunks, accepted), name="recognize-writer")
        try:
            while True:
                try:
                    response = await call.read()
                except grpc.aio.AioRpcError as exc:
                    _raise_source_error(writer)
                    own = await status.own(exc)
                    if own.code() == grpc.StatusCode.OK:
                        break
                    raise from_rpc_error(own, self.address) from None
                except asyncio.CancelledError:
                    _raise_source_error(writer)  # we cancelled the call because the source failed
                    raise
                if response is grpc.aio.EOF:
                    break
                if response.WhichOneof("response") == "session_started":
                    accepted.set()
                event = event_from_proto(response)
                if event is None:
                    log.debug("skipping unknown response %s", response.WhichOneof("response"))
                    continue
                yield event
            _raise_source_error(writer)
        finally:
            if not writer.done():
                writer.cancel()
            if not call.done():
                call.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _write(
        self,
        call: grpc.aio.StreamStreamCall,
        config: StreamConfig,
        items: AsyncIterable[StreamItem] | Iterable[StreamItem],
        accepted: asyncio.Event,
    ) -> None:
        try:
            await call.write(asr_pb2.RecognizeRequest(config=config.to_proto()))
            # Audio only once the server accepted the config: a rejected config then ends the
            # call with its own status, not with an asyncio write racing it (grpc/grpc#36066).
            await accepted.wait()
            async for item in _aiter(items):
                await call.write(_request(item))
            await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            # The server ended the call (usually with an error); the reader reports it.
            log.debug("stopped sending: the call is already finished")
        except BaseException:
            call.cancel()
            raise

    async def transcribe_file(
        self,
        path: str | Path,
        config: StreamConfig | None = None,
        *,
        realtime: bool = False,
        chunk_ms: int = 100,
        on_event: Callable[[Event], None] | None = None,
        wait: WaitPolicy = DEFAULT_WAIT,
        send_pcm: bool = False,
        piece_bytes: int = 32768,
    ) -> Transcript:
        """Transcribe any audio file (WAV, FLAC, MP3, Ogg, WebM, M4A, ...) in one session.

        The file is sent as it is, in pieces of `piece_bytes`, with encoding "auto": the server
        detects the container and decodes it (docs/audio.md), whatever `config` says about the
        audio format. With `send_pcm` or `realtime` it is decoded here instead and sent as 16 kHz
        LINEAR16 in `chunk_ms` chunks (a server that predates compressed audio needs this).
        Either way mono, or with `config.separate_channels` in the file's own channels.
        With `realtime`, chunks are paced at the speed of speech (like a live microphone).
        Without it, a config that names no segmentation gets "accurate": a file is transcribed for
        the record, and accurate finals are within a point of offline Whisper's WER where live
        ones are 2.7 to 10.5 points off (docs/accuracy.md), at a lower decode cost.
        `on_event` sees every event as it arrives (partials included), e.g. to show progress.
        A server that is starting or busy is waited for, up to `wait.max_seconds` (60 s by
        default; `NO_WAIT` fails fast with its 'retry in N s' error), see clients/waiting.py.
        """
        config = config or StreamConfig()
        if not config.segmentation and not realtime:
            config = replace(config, segmentation="accurate")
        length = await asyncio.to_thread(probe, path)  # a bad file fails here, before the call
        channels = min(await asyncio.to_thread(channel_count, path), 8) if config.separate_channels else 1
        if send_pcm or realtime:
            config = replace(config, encoding="linear16", sample_rate_hertz=SAMPLE_RATE, audio_channel_count=channels)
            chunks = read_chunks(path, sample_rate=SAMPLE_RATE, chunk_ms=chunk_ms, realtime=realtime, channels=channels)
        else:
            config = replace(config, encoding="auto", sample_rate_hertz=0, audio_channel_count=channels)
            chunks = read_pieces(path, piece_bytes)
        log.info("transcribing %s (%s s, %d channel(s)) as %s", path, f"{length:.1f}" if length else "unknown length",
                 channels, config.encoding)
        transcript = Transcript(text="")
        async for event in self.stream(chunks, config, wait=wait):
            if on_event is not None:
                on_event(event)
            if isinstance(event, SessionStarted):
                transcript.session = event
            elif isinstance(event, Result) and event.is_final:
                transcript.segments.append(event)
            elif isinstance(event, Summary):
                transcript.summary = event
        if transcript.summary is not None:
            transcript.text = transcript.summary.transcript
        else:  # the proto promises a summary; be lenient with servers that do not send one
            transcript.text = " ".join(r.text.strip() for r in transcript.segments if r.text.strip())
        return transcript


def _request(item: StreamItem) -> asr_pb2.RecognizeRequest:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return asr_pb2.RecognizeRequest(audio=bytes(item))
    if isinstance(item, Finalize):
        return asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))
    if isinstance(item, UpdateSettings):
        return asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(update_settings=item.to_proto()))
    raise TypeError(f"audio stream items must be bytes, Finalize or UpdateSettings, not {type(item).__name__}")


async def _aiter(items: AsyncIterable[StreamItem] | Iterable[StreamItem]) -> AsyncIterator[StreamItem]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def _raise_source_error(writer: asyncio.Task) -> None:
    """Re-raise what broke the audio source (a bad file, a dead microphone), if anything did."""
    if writer.done() and not writer.cancelled() and writer.exception() is not None:
        raise writer.exception()


class Recognizer:
    """Blocking convenience wrapper: each call runs its own event loop and channel."""

    def __init__(self, address: str | None = None, *, timeout: float | None = None, tls: bool = False,
                 ca: str | Path | None = None, api_key: str | None = None,
                 wait: WaitPolicy = DEFAULT_WAIT) -> None:
        self.address = address or default_address()
        self.timeout = timeout
        self.wait = wait  # every call waits for a starting or busy server this long (NO_WAIT: fail fast)
        self._connect = dict(timeout=timeout, tls=tls, ca=ca, api_key=api_key)

    def list_engines(self) -> EngineList:
        async def run() -> EngineList:
            async with RecognizerClient(self.address, **self._connect) as client:
                return await client.list_engines(wait=self.wait)

        return asyncio.run(run())

    def transcribe_file(self, path: str | Path, config: StreamConfig | None = None, **kw) -> Transcript:
        async def run() -> Transcript:
            async with RecognizerClient(self.address, **self._connect) as client:
                return await client.transcribe_file(path, config, **{"wait": self.wait, **kw})

        return asyncio.run(run())

    def transcribe_pcm(self, pcm16: bytes, config: StreamConfig | None = None, *, chunk_ms: int = 100) -> list[Event]:
        """Send raw audio in `config`'s format; return every event of the session."""
        config = config or StreamConfig()
        frame = {"linear16": 2, "mulaw": 1, "alaw": 1}.get(config.encoding, 4) * max(1, config.audio_channel_count)
        step = max(1, (config.sample_rate_hertz or SAMPLE_RATE) * chunk_ms // 1000) * frame

        async def run() -> list[Event]:
            async with RecognizerClient(self.address, **self._connect) as client:
                chunks = [pcm16[i:i + step] for i in range(0, len(pcm16), step)]
                return [event async for event in client.stream(chunks, config, wait=self.wait)]

        return asyncio.run(run())


__all__ = ["DEFAULT_WAIT", "NO_WAIT", "RecognizerClient", "Recognizer", "RecognizerError", "Transcript", "WaitPolicy",
           "default_address", "default_api_key"]
