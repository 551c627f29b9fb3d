"""The raw TCP transport (bridges/transports/tcp.py) through the real runtime and a real core:
Wyoming-style framing (a JSON header line, then its payload), half-close as the end of the
audio, errors as one final line, driven by the transcribe test dialect with JFK's speech."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import ssl


from tests.security_helpers import make_pki
from transcribe_dialect import TCP_SPEC
from transport_helpers import (WEB, WRONG_KEY, assert_jfk, dialect_process, jfk_pcm, keys_path, refused_soon,
                               running_bridge, tls_flags)

CHUNK = 32000  # one second of 16 kHz PCM16 per message


async def send_audio(writer: asyncio.StreamWriter, pcm: bytes, chunk: int = CHUNK) -> None:
    for i in range(0, len(pcm), chunk):
        payload = pcm[i:i + chunk]
        writer.write(json.dumps({"type": "audio", "payload_length": len(payload)}).encode() + b"\n" + payload)
        await writer.drain()


async def read_lines(reader: asyncio.StreamReader, timeout: float = 60) -> list[str]:
    """Every line until the server closes the connection."""
    lines = []
    async with asyncio.timeout(timeout):
        while line := await reader.readline():
            lines.append(line.decode().rstrip("\n"))
    return lines


async def transcribe(port: int, pcm: bytes, first: dict | None = None, chunk: int = CHUNK) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if first is not None:
            writer.write(json.dumps(first).encode() + b"\n")
        await send_audio(writer, pcm, chunk)
        writer.write_eof()  # half-close: the audio is over, the results still come
        return await read_lines(reader)
    finally:
        writer.close()


async def test_audio_then_half_close_is_answered_with_finals_and_the_transcript(core_address):
    async with running_bridge(TCP_SPEC, core_address) as bridge:
        lines = await transcribe(bridge.port, jfk_pcm())
    messages = [json.loads(line) for line in lines]
    assert messages[-1]["type"] == "done" and all(m["type"] == "final" for m in messages[:-1]), lines
    assert_jfk(messages[-1]["text"])


async def test_a_wrong_token_in_the_first_message_is_refused_with_one_line(core_address, tmp_path):
    async with running_bridge(TCP_SPEC, core_address, "--api-keys", str(keys_path(tmp_path))) as bridge:
        refused = await transcribe(bridge.port, jfk_pcm()[:CHUNK], {"type": "auth", "token": WRONG_KEY})
        allowed = await transcribe(bridge.port, jfk_pcm(), {"type": "auth", "token": WEB})
    assert len(refused) == 1 and refused[0].startswith("unauthenticated ") and "API key" in refused[0], refused
    assert_jfk(json.loads(allowed[-1])["text"])


async def test_a_message_over_the_limit_ends_with_a_client_error_line(core_address):
    async with running_bridge(TCP_SPEC, core_address, "--max-message-bytes", "20000") as bridge:
        reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
        writer.write(json.dumps({"type": "audio", "payload_length": 32000}).encode() + b"\n")
        lines = await read_lines(reader)
        writer.close()
        after = await transcribe(bridge.port, jfk_pcm(), chunk=16000)  # messages under the limit
    assert lines == ["client-error message of 32000 bytes exceeds the 20000-byte limit"], lines
    assert json.loads(after[-1])["type"] == "done", "one client's oversized message changes nothing for the next"


async def test_a_core_error_is_the_dialects_error_then_a_client_error_line(core_address):
    async with running_bridge(TCP_SPEC, core_address, "--engine", "no-such-engine") as bridge:
        lines = await transcribe(bridge.port, jfk_pcm())
    error = json.loads(lines[0])
    assert error["type"] == "error" and "no-such-engine" in error["error"], lines
    assert len(lines) == 2 and lines[1].startswith("client-error ") and "no-such-engine" in lines[1], lines


async def test_sigterm_finishes_the_open_session_and_refuses_new_connections(core_address, tmp_path):
    async with dialect_process(tmp_path, "tcp", core_address) as bridge:
        reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
        await send_audio(writer, jfk_pcm())  # no half-close: the drain ends the audio
        first = json.loads(await asyncio.wait_for(reader.readline(), 60))
        assert first["type"] == "final", first
        bridge.proc.send_signal(signal.SIGTERM)

        async def refused() -> bool:
            try:
                _, probe = await asyncio.open_connection("127.0.0.1", bridge.port)
            except (ConnectionRefusedError, ConnectionResetError):  # the listener closing, or closed
                return True
            probe.close()
            return False
        await refused_soon(refused)
        rest = await read_lines(reader)
        writer.close()
        assert json.loads(rest[-2])["type"] == "done" and rest[-1].startswith("shutting-down"), rest
        assert_jfk(json.loads(rest[-2])["text"])


async def test_tls_with_an_end_message_instead_of_a_half_close(core_address, tmp_path):
    """TLS cannot half-close (asyncio has no write_eof over TLS): the dialect's own end message."""
    pki = make_pki(tmp_path)
    async with running_bridge(TCP_SPEC, core_address, *tls_flags(pki)) as bridge:
        reader, writer = await asyncio.open_connection("localhost", bridge.port,
                                                       ssl=ssl.create_default_context(cafile=str(pki.ca)))
        await send_audio(writer, jfk_pcm())
        writer.write(b'{"type": "end"}\n')
        lines = await read_lines(reader)
        writer.close()
    assert_jfk(json.loads(lines[-1])["text"])


async def test_a_connection_over_the_cap_gets_one_busy_line(core_address):
    async with running_bridge(TCP_SPEC, core_address, "--max-connections", "1") as bridge:
        _, holder = await asyncio.open_connection("127.0.0.1", bridge.port)
        await send_audio(holder, jfk_pcm()[:CHUNK])  # its first message: the session begins
        await asyncio.sleep(0.5)
        refused = await transcribe(bridge.port, jfk_pcm()[:CHUNK])
        holder.close()
    assert len(refused) == 1 and refused[0].startswith("busy ") and "limit of 1" in refused[0], refused
    assert re.search(r"retry in \d+ s$", refused[0]), refused
