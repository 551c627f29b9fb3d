"""What the OpenAI bridge refuses, each in OpenAI's error shape (`{"error": {"message", "type",
"param", "code"}}`) with its HTTP status, as the `openai` SDK raises it (docs/openai.md: errors);
on the Realtime WebSocket, an `error` event and the session goes on."""
from __future__ import annotations

import asyncio
import base64
import os

import httpx
import openai
import pytest

from bridges.openai import SPEC
from tests.encoded_audio import jfk_file
from transport_helpers import WEB as WEB_KEY, keys_path, running_bridge

from test_openai_audio import mp3, sdk


async def bad_request(core_address: str, **fields) -> openai.BadRequestError:
    async with sdk(core_address) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.audio.transcriptions.create(**{"model": "whisper-1", "file": ("jfk.mp3", mp3()), **fields})
    return raised.value


def error_of(raised: openai.APIStatusError) -> dict:
    return error_of_body(raised.response.json())


def error_of_body(body: dict) -> dict:
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


@pytest.mark.parametrize("fields, param", [
    ({"response_format": "xml"}, "response_format"),
    ({"include": ["logprobs"]}, "include"),
    ({"timestamp_granularities": ["word"]}, "timestamp_granularities"),
    ({"temperature": 3}, "temperature"),
    ({"language": "en_US"}, "language"),
    ({"model": ""}, "model"),
])
async def test_a_field_openai_would_refuse_is_400_naming_it(core_address, fields, param):
    raised = await bad_request(core_address, **fields)
    error = error_of(raised)
    assert raised.status_code == 400 and error["param"] == param and error["type"] == "invalid_request_error", error


async def test_a_model_the_core_does_not_have_is_400_from_the_core(core_address):
    error = error_of(await bad_request(core_address, model="no-such-model"))
    assert error["code"] == "invalid_argument" and "no-such-model" in error["message"], error


async def test_undecodable_audio_is_400_naming_the_encoding(core_address):
    error = error_of(await bad_request(core_address, file=("noise.mp3", os.urandom(64 * 1024))))
    assert error["type"] == "invalid_request_error" and "AUTO" in error["message"], error


async def test_a_request_without_a_file_or_not_multipart_is_400(core_address):
    async with running_bridge(SPEC, core_address) as bridge, httpx.AsyncClient(timeout=30) as client:
        url = f"http://127.0.0.1:{bridge.port}/v1/audio/transcriptions"
        no_file = await client.post(url, data={"model": "whisper-1"}, files={"other": ("x", b"")})
        not_form = await client.post(url, json={"model": "whisper-1"})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    assert not_form.status_code == 400 and "multipart/form-data" in not_form.json()["error"]["message"]


async def test_an_unknown_model_id_is_model_not_found(core_address):
    async with sdk(core_address) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.models.retrieve("nope/none")
    assert error_of(raised.value)["code"] == "model_not_found"


async def test_without_a_valid_key_it_is_401(core_address, tmp_path):
    keys = keys_path(tmp_path)
    async with running_bridge(SPEC, core_address, "--api-keys", str(keys)) as bridge:
        base = f"http://127.0.0.1:{bridge.port}/v1"
        async with openai.AsyncOpenAI(base_url=base, api_key="wrong", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError):
                await wrong.audio.transcriptions.create(model="whisper-1", file=("jfk.flac", jfk_file("FLAC").read_bytes()))
        async with openai.AsyncOpenAI(base_url=base, api_key=WEB_KEY, max_retries=0, timeout=120) as right:
            assert (await right.audio.transcriptions.create(model="whisper-1", file=("jfk.mp3", mp3()))).text


async def test_realtime_mistakes_are_error_events_and_the_session_goes_on(core_address):
    async with running_bridge(SPEC, core_address) as bridge:
        async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{bridge.port}/v1", api_key="unused") as client:
            async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
                await connection.recv()
                await connection.send({"type": "response.create", "event_id": "ev1"})
                await connection.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
                await connection.input_audio_buffer.commit()
                await connection.session.update(session={"type": "transcription",
                                                         "audio": {"input": {"format": {"type": "audio/opus"}}}})
                await connection.input_audio_buffer.append(audio=base64.b64encode(b"\0" * 9600).decode())
                await connection.input_audio_buffer.clear()
                events = [await asyncio.wait_for(connection.recv(), 10) for _ in range(5)]
    errors = [e.error for e in events[:4]]
    assert [e.type for e in events] == ["error"] * 4 + ["input_audio_buffer.cleared"], events
    assert errors[0].event_id == "ev1" and errors[0].param == "type"
    assert errors[1].param == "audio"
    assert errors[2].code == "input_audio_buffer_commit_empty"
    assert errors[3].param == "session.audio.input.format.type"


async def test_models_from_a_core_that_never_answers_are_503_and_the_bridge_serves_on_meanwhile():
    """The listing is fetched off the event loop: while it waits for a mute core, the bridge answers others."""
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, never speaks HTTP/2
    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    core = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    answered: list[str] = []
    async with server, running_bridge(SPEC, core) as bridge, httpx.AsyncClient(timeout=30) as client:
        base = f"http://127.0.0.1:{bridge.port}/v1"

        async def models() -> httpx.Response:
            reply = await client.get(f"{base}/models")
            answered.append("models")
            return reply

        async def not_a_form() -> httpx.Response:
            await asyncio.sleep(0.1)  # asked while the listing is under way
            reply = await client.post(f"{base}/audio/transcriptions", json={"model": "whisper-1"})
            answered.append("form")
            return reply

        listing, form = await asyncio.gather(models(), not_a_form())
    assert listing.status_code == 503 and error_of_body(listing.json())["type"] == "server_error", listing.text
    assert form.status_code == 400 and answered == ["form", "models"]
