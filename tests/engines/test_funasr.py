"""FunASR paraformer-online through the real core, on a tiny random-weight model built locally.

The tiny model runs funasr's real streaming path (AutoModel, per-session cache, chunk_size,
look-back, is_final flush); it recognizes nothing, so these tests check the shape and timing of
partials and finals, session isolation and endpointing, never the words. Set
ASR_FUNASR_REAL_MODEL_DIR to a real paraformer-zh-streaming directory to also run real speech.
"""
from __future__ import annotations

import asyncio
import os
import re

import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, silence, speech, to_pcm16, with_pauses
from tests.core.grpc_helpers import audio_requests, recognize
from tests.engines.engine_helpers import (UTTERANCES, alone_then_together, decoded_whole_and_cut, needs, pcm16_config,
                                          read_until, recognize_once, recognize_utterances)
from tests.support import tiny_engine_fixtures
from tests.engines.shape import check_result_stream, seconds, speech_events
from tests.engines.tiny_funasr import build_tiny_paraformer

pytestmark = needs("funasr", "funasr")


tiny_model_dir, funasr_core = tiny_engine_fixtures("funasr", build_tiny_paraformer)


def funasr_config(**kw) -> asr_pb2.RecognizeRequest:
    return pcm16_config("funasr", **kw)


async def test_list_engines_reports_funasr_available(funasr_core):
    import grpc
    from asr.v1 import asr_pb2_grpc

    async with grpc.aio.insecure_channel(funasr_core.address) as channel:
        reply = await asr_pb2_grpc.RecognizerServiceStub(channel).ListEngines(asr_pb2.ListEnginesRequest())
    info = next(e for e in reply.engines if e.name == "funasr")
    assert info.available, info.unavailable_reason
    assert info.capabilities.native_streaming and info.capabilities.interim_results
    assert info.default_model == "paraformer-zh-streaming"


async def test_stream_with_pauses_gives_partials_then_one_final_per_utterance(funasr_core):
    call = await recognize_utterances(funasr_core.address, funasr_config(enable_word_time_offsets=True),
                                      "funasr", "paraformer-zh-streaming")
    for final in call.finals:
        assert final.text and final.language == "zh"
        # one timed word per CJK character and per English word
        assert [w.word for w in final.words] == re.findall(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+", final.text)
    partials = [r for r in call.results if not r.is_final]
    # a partial every 600 ms chunk (chunk_size [0, 10, 5]) of each ~2 s utterance
    assert len(partials) >= len(UTTERANCES) * 2
    kinds = [k for k, _ in speech_events(call)]
    assert kinds == ["begin", "end"] * len(UTTERANCES)


async def test_concurrent_sessions_keep_separate_caches(funasr_core):
    """The shared model with per-session caches: results of one stream must not depend on
    another running at the same time (the tiny model is deterministic: no dither, eval mode)."""
    alone, together = await alone_then_together(funasr_core.address, funasr_config(), funasr_config())
    assert [f.text for f in together[0].finals] == [f.text for f in alone.finals]
    assert together[1].finals and together[1].finals[0].text


async def test_vad_disabled_finalize_control_cuts_segments(funasr_core):
    clip = speech(UTTERANCES[0])
    half = len(clip) // 2
    finalize = asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))
    requests = ([funasr_config(vad=asr_pb2.VadConfig(enabled=False))]
                + audio_requests(to_pcm16(clip[:half])) + [finalize] + audio_requests(to_pcm16(clip[half:])))
    call = await recognize(funasr_core.address, requests)
    check_result_stream(call, len(clip) / SAMPLE_RATE)
    finals = call.finals
    assert len(finals) == 2
    assert seconds(finals[0].start_offset) == 0.0
    assert abs(seconds(finals[0].end_offset) - half / SAMPLE_RATE) < 0.01
    assert abs(seconds(finals[1].start_offset) - half / SAMPLE_RATE) < 0.01
    assert abs(seconds(finals[1].end_offset) - len(clip) / SAMPLE_RATE) < 0.01
    assert not speech_events(call)


async def test_silence_gives_no_segment(funasr_core):
    call = await recognize(funasr_core.address, [funasr_config()] + audio_requests(to_pcm16(silence(3.0))))
    assert call.code.name == "OK"
    assert not call.results and call.responses[-1].summary.segment_count == 0


async def test_unsupported_language_is_invalid_argument(funasr_core):
    call = await recognize(funasr_core.address, [funasr_config(language="ar-EG")])
    assert call.code.name == "INVALID_ARGUMENT" and "language" in call.message
    assert any(f.endswith("language") for f in call.field_violations), call.field_violations


def test_describe_without_model_dir_says_what_to_do(monkeypatch):
    from core_service.engines.funasr import FunASREngine

    monkeypatch.delenv("ASR_FUNASR_MODEL_DIR", raising=False)
    desc = FunASREngine().describe()
    assert not desc.available and "ASR_FUNASR_MODEL_DIR" in desc.unavailable_reason
    desc = FunASREngine(model_dir="/nonexistent/paraformer").describe()
    assert not desc.available and "ASR_FUNASR_MODEL_DIR does not name a directory" in desc.unavailable_reason
    assert "/nonexistent" not in desc.unavailable_reason  # says what is missing, not where


REAL_DIR = os.environ.get("ASR_FUNASR_REAL_MODEL_DIR", "")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DIR, reason="set ASR_FUNASR_REAL_MODEL_DIR to a paraformer-zh-streaming "
                                         "model directory to run the real-weights test")
async def test_real_paraformer_transcribes_mandarin(tmp_path):
    import shutil
    import subprocess

    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is needed to speak Mandarin: apt-get install espeak-ng")
    wav = tmp_path / "zh.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(wav), "你好世界"], check=True)
    import wave

    import numpy as np
    import soxr

    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        rate = w.getframerate()
    audio = soxr.resample(pcm.astype(np.float32) / 32768, rate, SAMPLE_RATE).astype(np.float32)
    audio = np.concatenate([silence(0.5), audio, silence(1.0)])
    call = await recognize_once(tmp_path, {"ASR_FUNASR_MODEL_DIR": REAL_DIR},
                                [funasr_config()] + audio_requests(to_pcm16(audio)))
    check_result_stream(call, len(audio) / SAMPLE_RATE, expect_partials=False)
    assert any(ch in call.transcript for ch in "你好世界"), call.transcript


async def test_funasr_bridge_streams_through_the_funasr_engine(funasr_core, tmp_path):
    """The funasr WebSocket dialect (shared/protocols/funasr.md) in front of this engine."""
    import base64
    import json

    import websockets

    from tests.bridges.bridge_helpers import recv_json, start_bridge

    bridge = start_bridge(tmp_path, "funasr", funasr_core.address, "--engine", "funasr")
    audio, _ = with_pauses(UTTERANCES[:1], pause=1.0, lead=0.3)
    messages = []
    try:
        async with websockets.connect(bridge.url("/ws/engine_test_001")) as ws:
            await ws.send(json.dumps({"type": "start_recording"}))
            messages.append(await recv_json(ws, 10))
            assert messages[0]["code"] == "SESSION_STARTED" and "engine funasr" in messages[0]["message"]
            for i in range(0, len(audio), 1024):  # the document's chunks, ~3x real time
                chunk = audio[i:i + 1024].astype("<f4").tobytes()
                await ws.send(json.dumps({"type": "audio_chunk", "data": base64.b64encode(chunk).decode()}))
                messages.append(await recv_json(ws, 10))  # one reply per chunk, news when there is some
                await asyncio.sleep(0.02)
            await ws.send(json.dumps({"type": "stop_recording"}))
            await read_until(ws, messages, lambda m: m.get("code") == "SESSION_STOPPED")
    finally:
        bridge.stop()
    results = [m for m in messages if m["type"] == "recognition_result"]
    assert any(not r["is_final"] and r["text"] for r in results), [(r["is_final"], r["text"]) for r in results]
    # stop_recording is answered with a final of what was not final yet (nothing is repeated),
    # then SESSION_STOPPED carrying the recording's whole transcript
    assert messages[-2]["type"] == "recognition_result" and messages[-2]["is_final"], messages[-3:]
    finals = [r["text"] for r in results if r["is_final"] and r["text"]]
    assert finals and all(text in messages[-1]["message"] for text in finals), messages[-3:]


def test_decoder_result_does_not_depend_on_how_audio_is_cut(tiny_model_dir):
    """The per-session cache carries audio and state between calls: feeding one utterance in
    small pieces, interleaved with another session, must give what one big feed gives."""
    from core_service.engines.funasr import FunASROptions, ParaformerDecoder, ParaformerModel

    model = ParaformerModel(FunASROptions(model_dir=str(tiny_model_dir)))
    expected, cut = decoded_whole_and_cut(lambda key: ParaformerDecoder(model, key))
    assert expected and cut == expected


def test_tiny_model_loads_through_the_modelscope_snapshot_branch(tiny_model_dir):
    """Real snapshots carry configuration.json, whose file_path_metas AutoModel resolves; only
    that branch sets `seg_dict_file` (the config.yaml branch sets `seg_dict`)."""
    import json

    from core_service.engines.funasr import FunASROptions, ParaformerModel

    metas = json.loads((tiny_model_dir / "configuration.json").read_text())["file_path_metas"]
    assert metas["config"] == "config.yaml" and metas["init_param"] == "model.pt"
    model = ParaformerModel(FunASROptions(model_dir=str(tiny_model_dir)))
    assert model.snapshot
    conf = model.base_kwargs["tokenizer_conf"]
    assert conf["seg_dict_file"] == str(tiny_model_dir / "seg_dict") and "seg_dict" not in conf
    assert model.base_kwargs["init_param"] == str(tiny_model_dir / "model.pt")
    assert model.base_kwargs["frontend_conf"]["cmvn_file"] == str(tiny_model_dir / "am.mvn")


def test_english_word_pieces_split_across_chunks_are_kept(tiny_model_dir):
    """FunASR post-processes each chunk alone and drops a word piece ending a chunk (`hel@@`);
    the engine post-processes the utterance's tokens together, so no letter is lost."""
    from core_service.engines.funasr import FunASROptions, ParaformerDecoder, ParaformerModel
    from tests.audio_fixtures import PARAGRAPH

    model = ParaformerModel(FunASROptions(model_dir=str(tiny_model_dir)))
    decoder = ParaformerDecoder(model, "pieces")
    audio = speech(PARAGRAPH)
    split = 0
    for i in range(0, len(audio), 9600):  # one 600 ms decoding step per call
        before = len(decoder.pieces)
        decoder.feed(audio[i:i + 9600])
        step = decoder.pieces[before:]
        split += bool(step) and step[-1].endswith("@@") and i + 9600 < len(audio)
    text = decoder.flush()
    assert split, "the tiny model never ended a chunk inside a word; raise tiny_funasr.PIECE_BIAS"
    from collections import Counter

    letters = "".join(p.replace("@@", "") for p in decoder.pieces if p not in ("<unk>", "<s>", "</s>"))
    assert Counter(text.replace(" ", "")) == Counter(letters)  # every piece's letters are in the text
    assert "hello" in text.split() or "world" in text.split()


def test_loading_keeps_the_service_root_logging(tiny_model_dir, monkeypatch):
    """AutoModel calls logging.basicConfig(level=log_level): on a process whose root logger has
    no handler yet, that would add one and change the level."""
    import logging

    from core_service.engines.funasr import FunASROptions, ParaformerModel

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.DEBUG)
    ParaformerModel(FunASROptions(model_dir=str(tiny_model_dir)))
    assert root.handlers == [] and root.level == logging.DEBUG


async def test_torch_threads_come_from_the_core_cpu_threads(funasr_core):
    call = await recognize(funasr_core.address, [funasr_config()] + audio_requests(to_pcm16(silence(0.5))))
    assert call.code.name == "OK"
    assert "torch intra-op threads set to 1 (--cpu-threads)" in funasr_core.log()
