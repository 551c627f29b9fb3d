"""The Vosk bridge (bridges/vosk/) driven by Vosk's own example client: `run_test` is
alphacep/vosk-server websocket/test.py (test_words.py, test_alternatives.py: the same loop with
another config) unchanged but for the address, the WAV path and collecting what it prints. Real
speech (JFK) at 8 kHz (telephony, the default) and at 16 kHz."""
from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import soxr
import websockets

from bridges.vosk import SPEC
from tests.audio_fixtures import SAMPLE_RATE
from tests.real_speech import load
from transport_helpers import assert_jfk, running_bridge

CONFIG = '{ "config" : { "sample_rate" : %d } }'  # test.py
WORDS_OFF = '''{"config" :
                    { "phrase_list" : ["zero one two three four five", "six seven eight nine oh"],
                      "sample_rate" : %d,
                      "words" : 0}}'''  # test_words.py
ALTERNATIVES = '{"config" : { "max_alternatives" : 20, "sample_rate" : %d } }'  # test_alternatives.py


def jfk_wav(directory: Path, rate: int) -> str:
    audio = load("jfk").audio if rate == SAMPLE_RATE else soxr.resample(load("jfk").audio, SAMPLE_RATE, rate)
    path = directory / f"jfk-{rate}.wav"
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return str(path)


async def run_test(uri, wav_path, config=CONFIG, printed=None):
    """websocket/test.py's run_test; `print` collects into `printed`."""
    print = printed.append
    async with websockets.connect(uri) as websocket:

        wf = wave.open(wav_path, "rb")
        await websocket.send(config % (wf.getframerate()))
        buffer_size = int(wf.getframerate() * 0.2) # 0.2 seconds of audio
        while True:
            data = wf.readframes(buffer_size)

            if len(data) == 0:
                break

            await websocket.send(data)
            print (await websocket.recv())

        await websocket.send('{"eof" : 1}')
        print (await websocket.recv())
    return websocket.close_code


async def run_microphone(uri, pcm, samplerate, printed):
    """websocket/test_microphone.py's run_test, its sounddevice callback replaced by JFK's audio
    put on the queue at real time, in the device's blocks of 4000 samples; ends with eof."""
    print = printed.append
    audio_queue = asyncio.Queue()

    async def device():
        for i in range(0, len(pcm), 8000):
            audio_queue.put_nowait(pcm[i:i + 8000])
            await asyncio.sleep(4000 / samplerate)
        audio_queue.put_nowait(None)

    feeding = asyncio.create_task(device())
    async with websockets.connect(uri) as websocket:
            await websocket.send('{ "config" : { "sample_rate" : %d } }' % (samplerate))

            while True:
                data = await audio_queue.get()
                if data is None:
                    break
                await websocket.send(data)
                print (await websocket.recv())

            await websocket.send('{"eof" : 1}')
            print (await websocket.recv())
    await feeding


def transcript(messages: list[dict]) -> str:
    """What a Vosk client keeps: the text of every result (partials are previews)."""
    texts = [m["text"] if "text" in m else m["alternatives"][0]["text"] for m in messages if "partial" not in m]
    return " ".join(t for t in texts if t)


async def transcribe(port: int, wav: str, config: str = CONFIG) -> tuple[list[dict], int]:
    printed: list[str] = []
    code = await run_test(f"ws://127.0.0.1:{port}", wav, config, printed)
    return [json.loads(p) for p in printed], code


async def test_telephony_speech_at_8_khz_results_with_words_and_the_final_after_eof(core_address, tmp_path):
    wav = jfk_wav(tmp_path, 8000)
    async with running_bridge(SPEC, core_address) as bridge:
        messages, code = await transcribe(bridge.port, wav)
    frames = 55  # 11 s in 0.2 s frames: one reply each, then the final result
    assert len(messages) == frames + 1 and code == 1000, (len(messages), code)
    assert all(set(m) <= {"partial", "partial_result", "result", "text"} for m in messages), messages
    results = [m for m in messages if "text" in m and m["text"]]
    assert results and all(w.keys() == {"conf", "end", "start", "word"} for m in results for w in m["result"])
    assert "text" in messages[-1], messages[-1]
    assert_jfk(transcript(messages))


async def test_16_khz_speech_with_words_off_and_a_phrase_list(core_address, tmp_path):
    wav = jfk_wav(tmp_path, 16000)
    async with running_bridge(SPEC, core_address) as bridge:
        messages, code = await transcribe(bridge.port, wav, WORDS_OFF)
    assert code == 1000 and all("result" not in m and "partial_result" not in m for m in messages), messages
    assert_jfk(transcript(messages))


async def test_alternatives_when_asked(core_address, tmp_path):
    wav = jfk_wav(tmp_path, 8000)
    async with running_bridge(SPEC, core_address) as bridge:
        messages, _ = await transcribe(bridge.port, wav, ALTERNATIVES)
    alternatives = [m["alternatives"] for m in messages if "alternatives" in m]
    assert alternatives and all(a[0].keys() == {"confidence", "result", "text"} for a in alternatives), messages
    assert all(w.keys() == {"end", "start", "word"} for a in alternatives for w in a[0]["result"])
    assert_jfk(transcript(messages))


async def test_compact_eof_reset_and_bad_messages(core_address, tmp_path):
    pcm = (np.clip(soxr.resample(load("jfk").audio, SAMPLE_RATE, 8000), -1, 1) * 32767).astype("<i2").tobytes()
    async with running_bridge(SPEC, core_address) as bridge:
        async with websockets.connect(f"ws://127.0.0.1:{bridge.port}") as ws:
            await ws.send(b"\x01\x02\x03")
            odd = json.loads(await ws.recv())
            replies = []
            for i in range(0, len(pcm), 3200):
                await ws.send(pcm[i:i + 3200])
                replies.append(json.loads(await ws.recv()))
                if i == 0:
                    await ws.send('{"config": {"sample_rate": 16000}}')
                    late_config = json.loads(await ws.recv())  # audio came first: refused, the stream goes on
            await ws.send('{"reset" : 1}')
            reset = json.loads(await ws.recv())
            await ws.send('{"eof": 1}')
            last = json.loads(await ws.recv())
            await ws.wait_closed()
        async with websockets.connect(f"ws://127.0.0.1:{bridge.port}") as ws:
            await ws.send('{"config": {"model": "/opt/vosk-model"}}')
            refused = json.loads(await ws.recv())
            await ws.wait_closed()
    assert "error" in odd and "16-bit" in odd["error"], odd
    assert "error" in late_config, late_config
    assert "text" in reset and "text" in last, (reset, last)
    assert_jfk(transcript([*replies, reset, last]))
    assert "model is not supported" in refused["error"] and ws.close_code == 1008, (refused, ws.close_code)


async def test_a_live_microphone_at_8_khz_sees_partials_as_it_speaks(core_address):
    pcm = (np.clip(soxr.resample(load("jfk").audio, SAMPLE_RATE, 8000), -1, 1) * 32767).astype("<i2").tobytes()
    printed: list[str] = []
    async with running_bridge(SPEC, core_address) as bridge:
        await run_microphone(f"ws://127.0.0.1:{bridge.port}", pcm, 8000, printed)
    messages = [json.loads(p) for p in printed]
    partials = [m["partial"] for m in messages if m.get("partial")]
    assert len(partials) >= 3, messages
    assert any("text" in m and m["text"] for m in messages[:-1]), "results at the endpoints while speaking"
    assert_jfk(transcript(messages))
