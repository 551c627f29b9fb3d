"""SpeechBrain streaming transducer through the real core, on a tiny random-weight model.

The tiny model runs StreamingASR's real path (Fbank + CNN streaming feature wrapper, chunked
Conformer with left context, greedy transducer search, streaming SentencePiece decoding); it
recognizes nothing, so these tests check partials, finals, timing and isolation, not words.
Set ASR_SPEECHBRAIN_REAL_MODEL_DIR to a speechbrain/asr-streaming-conformer-librispeech
snapshot to also check real English recognition.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import PARAGRAPH, SAMPLE_RATE, silence, speech, to_pcm16, wer, with_pauses
from tests.core.grpc_helpers import audio_requests, recognize
from tests.engines.engine_helpers import (UTTERANCES, alone_then_together, decoded_whole_and_cut, needs, pcm16_config,
                                          read_until, recognize_once, recognize_utterances)
from tests.support import tiny_engine_fixtures
from tests.engines.shape import check_result_stream, seconds, speech_events
from tests.engines.tiny_speechbrain import build_tiny_transducer

pytestmark = needs("speechbrain", "speechbrain")


tiny_model_dir, sb_core = tiny_engine_fixtures("speechbrain", build_tiny_transducer, ASR_SPEECHBRAIN_CHUNK_SIZE="8")


def sb_config(engine: str = "speechbrain", **kw) -> asr_pb2.RecognizeRequest:
    return pcm16_config(engine, **kw)


async def test_stream_with_pauses_gives_partials_then_one_final_per_utterance(sb_core):
    call = await recognize_utterances(sb_core.address, sb_config(enable_word_time_offsets=True),
                                      "speechbrain", "conformer-transducer-streaming")
    finals = call.finals
    for final in finals:
        assert final.language == "en"
        assert bool(final.words) == bool(final.text)
    partials = [r for r in call.results if not r.is_final]
    assert len(partials) >= len(UTTERANCES)
    for p in partials:  # a partial is the final's text so far: the transducer never revises
        final = next(f for f in finals if f.segment_id == p.segment_id)
        assert final.text.startswith(p.text)
    assert [k for k, _ in speech_events(call)] == ["begin", "end"] * len(UTTERANCES)


async def test_alias_and_concurrent_sessions_keep_separate_contexts(sb_core):
    alone, together = await alone_then_together(sb_core.address, sb_config(), sb_config(engine="rnnt"))
    assert [f.text for f in together[0].finals] == [f.text for f in alone.finals]
    assert together[1].responses[0].session_started.engine == "speechbrain"
    assert together[1].finals


async def test_vad_disabled_end_of_audio_flushes_one_segment(sb_core):
    clip = speech(UTTERANCES[0])
    call = await recognize(sb_core.address, [sb_config(vad=asr_pb2.VadConfig(enabled=False))]
                           + audio_requests(to_pcm16(clip)))
    check_result_stream(call, len(clip) / SAMPLE_RATE)
    (final,) = call.finals
    assert seconds(final.start_offset) == 0.0
    assert abs(seconds(final.end_offset) - len(clip) / SAMPLE_RATE) < 0.01


async def test_silence_gives_no_segment(sb_core):
    call = await recognize(sb_core.address, [sb_config()] + audio_requests(to_pcm16(silence(2.0))))
    assert call.code.name == "OK" and not call.results


def test_describe_without_model_dir_says_what_to_do(monkeypatch):
    from core_service.engines.speechbrain import SpeechBrainEngine

    monkeypatch.delenv("ASR_SPEECHBRAIN_MODEL_DIR", raising=False)
    desc = SpeechBrainEngine().describe()
    assert not desc.available and "ASR_SPEECHBRAIN_MODEL_DIR" in desc.unavailable_reason


REAL_DIR = os.environ.get("ASR_SPEECHBRAIN_REAL_MODEL_DIR", "")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DIR, reason="set ASR_SPEECHBRAIN_REAL_MODEL_DIR to a "
                                         "speechbrain/asr-streaming-conformer-librispeech snapshot to run "
                                         "the real-weights test")
async def test_real_transducer_transcribes_english(tmp_path):
    audio = speech(PARAGRAPH)
    call = await recognize_once(tmp_path, {"ASR_SPEECHBRAIN_MODEL_DIR": REAL_DIR},
                                [sb_config()] + audio_requests(to_pcm16(audio)))
    check_result_stream(call, len(audio) / SAMPLE_RATE)
    assert wer(PARAGRAPH, call.transcript) < 0.3, call.transcript


async def test_rnnt_bridge_streams_through_the_speechbrain_engine(sb_core, tmp_path):
    """The rnnt WebSocket dialect (shared/protocols/rnnt.md) in front of this engine."""
    import json

    import websockets

    from tests.bridges.bridge_helpers import recv_json, start_bridge

    bridge = start_bridge(tmp_path, "rnnt", sb_core.address, "--engine", "speechbrain")
    audio, _ = with_pauses(UTTERANCES, pause=1.2, lead=0.3)
    received = []
    try:
        async with websockets.connect(bridge.url("/ws/transcribe")) as ws:
            assert (await recv_json(ws, 10))["type"] == "connection"
            await ws.send(json.dumps({"type": "start_recording"}))
            pcm = to_pcm16(audio)
            for i in range(0, len(pcm), 3200):
                await ws.send(pcm[i:i + 3200])
            await ws.send(json.dumps({"type": "stop_recording"}))
            await read_until(ws, received, lambda m: m["type"] == "recording_stopped")
    finally:
        bridge.stop()
    finals = [m for m in received if m["type"] == "transcription"]
    assert len(finals) == len(UTTERANCES), received
    assert [m for m in received if m["type"] == "partial"], received
    for f in finals:  # the dialect always carries word times; ours come from the transducer's chunks
        assert f["words"] and " ".join(w["word"] for w in f["words"]).replace(" ", "") == f["text"].replace(" ", "")
    assert received[-1]["total_segments"] == len(finals)


def test_decoder_result_does_not_depend_on_how_audio_is_cut(tiny_model_dir):
    """The streaming context and the partial-chunk buffer carry state between calls."""
    from core_service.engines.speechbrain import SpeechBrainOptions, TransducerDecoder, TransducerModel

    model = TransducerModel(SpeechBrainOptions(model_dir=str(tiny_model_dir), chunk_size=8))
    expected, cut = decoded_whole_and_cut(lambda key: TransducerDecoder(model))
    assert expected and cut == expected


def test_tiny_model_uses_the_real_kinds_of_components(tiny_model_dir):
    """Global normalization from normalizer.ckpt and a SentencePiece word-piece tokenizer, as in
    speechbrain/asr-streaming-conformer-librispeech, so the tests run the real model's path."""
    from core_service.engines.speechbrain import SpeechBrainOptions, TransducerDecoder, TransducerModel

    model = TransducerModel(SpeechBrainOptions(model_dir=str(tiny_model_dir), chunk_size=8))
    norm = model.asr.hparams.normalize
    assert norm.norm_type == "global" and norm.count > 0 and norm.glob_mean.shape == (20,)
    sp = model.asr.hparams.tokenizer
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert any(p.startswith("\u2581") and len(p) > 2 for p in pieces), pieces  # word pieces, not characters
    decoder = TransducerDecoder(model)
    decoder.feed(speech(UTTERANCES[1]))
    assert " " in decoder.flush().strip()  # the streaming decoder kept the pieces' leading spaces


def _mismatched_copy(tiny_model_dir: Path, target: Path) -> Path:
    """The tiny model with model.ckpt saved under other module names, as weights for another
    architecture or SpeechBrain version would be."""
    import shutil

    import torch

    shutil.copytree(tiny_model_dir, target)
    state = torch.load(target / "model.ckpt", map_location="cpu")
    state = {k.replace("1.transformer.encoder.", "1.transformer.enc.", 1): v for k, v in state.items()}
    torch.save(state, target / "model.ckpt")
    return target


def test_weights_that_do_not_fit_the_model_are_refused(tiny_model_dir, tmp_path):
    from core_service.engines.base import EngineUnavailable
    from core_service.engines.speechbrain import SpeechBrainEngine

    engine = SpeechBrainEngine(model_dir=str(_mismatched_copy(tiny_model_dir, tmp_path / "bad")))
    with pytest.raises(EngineUnavailable) as err:
        engine._load()
    message = err.value.message
    assert "model.ckpt lacks" in message and "1.transformer.encoder." in message, message
    assert "does not have" in message and "1.transformer.enc." in message, message
    desc = engine.describe()
    assert not desc.available and "model.ckpt lacks" in desc.unavailable_reason


def test_a_normalizer_without_statistics_is_refused(tiny_model_dir, tmp_path):
    import shutil

    import torch

    from core_service.engines.base import EngineUnavailable
    from core_service.engines.speechbrain import SpeechBrainEngine

    bad = tmp_path / "nostats"
    shutil.copytree(tiny_model_dir, bad)
    torch.save({"count": 0, "glob_mean": torch.empty(0), "glob_std": torch.empty(0)}, bad / "normalizer.ckpt")
    with pytest.raises(EngineUnavailable, match="normalizer.ckpt gave the global input normalizer no statistics"):
        SpeechBrainEngine(model_dir=str(bad))._load()


async def test_a_session_on_weights_that_do_not_fit_fails_with_failed_precondition(tiny_model_dir, tmp_path):
    bad = _mismatched_copy(tiny_model_dir, tmp_path / "bad")
    call = await recognize_once(tmp_path, {"ASR_SPEECHBRAIN_MODEL_DIR": str(bad)},
                                [sb_config()] + audio_requests(to_pcm16(speech(UTTERANCES[0]))))
    assert call.code.name == "FAILED_PRECONDITION", (call.code, call.message)
    assert "model.ckpt lacks" in call.message and "1.transformer.encoder." in call.message
