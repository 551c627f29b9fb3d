"""What the engine tests share: the skip for an engine whose extra is not installed, a core
serving one engine, its session config, and a dialect's messages read up to the last one."""
from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import SAMPLE_RATE, to_pcm16, with_pauses
from tests.core.grpc_helpers import Call, audio_requests, config, recognize
from tests.engines.shape import check_result_stream, seconds
from tests.support import running_core

UTTERANCES = ("Please turn on the kitchen lights.", "Set a timer for ten minutes.")


def needs(module: str, extra: str) -> pytest.MarkDecorator:
    """Skip unless `module` is installed (found, not imported: importing funasr before
    torchaudio_compat would leave it without fbank)."""
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} not installed: pip install '.[{extra}]'")


def pcm16_config(engine: str, **kw) -> asr_pb2.RecognizeRequest:
    """A session config for 16 kHz LINEAR16 audio on `engine`, with partials."""
    kw.setdefault("interim_results", True)
    return config(engine=engine, encoding=asr_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hertz=16000, **kw)


async def recognize_once(tmp_dir: Path, env: dict[str, str], requests: list) -> Call:
    """One call on a core of its own (for a model the module's core does not load)."""
    with running_core(tmp_dir, env=env) as core:
        return await recognize(core.address, requests)


async def read_until(ws, messages: list[dict[str, Any]], last: Callable[[dict[str, Any]], bool],
                     timeout: float = 30) -> list[dict[str, Any]]:
    """Append a dialect's JSON messages to `messages` until one is `last`; none may be an error."""
    from tests.bridges.bridge_helpers import recv_json

    while not messages or not last(messages[-1]):
        messages.append(await recv_json(ws, timeout))
        assert messages[-1]["type"] != "error", messages[-1]
    return messages


async def recognize_utterances(address: str, first: asr_pb2.RecognizeRequest, engine: str, model: str) -> Call:
    """UTTERANCES with 1.5 s pauses in one call, checked as every natively streaming engine must
    answer them: on `engine` and `model`, a well-formed result stream (shape.py), one final per
    utterance covering it. The caller checks what its engine adds (languages, words, partials)."""
    audio, spans = with_pauses(UTTERANCES, pause=1.5)
    call = await recognize(address, [first] + audio_requests(to_pcm16(audio)))
    started = call.responses[0].session_started
    assert (started.engine, started.model) == (engine, model)
    check_result_stream(call, len(audio) / SAMPLE_RATE)
    finals = call.finals
    assert len(finals) == len(UTTERANCES), [(f.segment_id, f.text) for f in finals]
    for final, (s, e) in zip(finals, spans):
        # the segment covers the utterance, give or take the VAD's padding and frame lag
        assert seconds(final.start_offset) <= s + 0.3 and seconds(final.end_offset) >= e - 0.3
    return call


async def alone_then_together(address: str, first: asr_pb2.RecognizeRequest,
                              other: asr_pb2.RecognizeRequest) -> tuple[Call, list[Call]]:
    """The first utterance alone, then at the same time as the second one on another session
    (with `other` as its config): a shared model keeps each session's state apart when the
    first call's finals are the same both times (the caller asserts it)."""
    a, _ = with_pauses(UTTERANCES[:1], pause=1.0)
    b, _ = with_pauses(UTTERANCES[1:], pause=1.0)
    alone = await recognize(address, [first] + audio_requests(to_pcm16(a)))
    together = await asyncio.gather(
        recognize(address, [first] + audio_requests(to_pcm16(a)), pace=0.005),
        recognize(address, [other] + audio_requests(to_pcm16(b)), pace=0.005),
    )
    return alone, together


def decoded_whole_and_cut(new_decoder: Callable[[str], Any]) -> tuple[str, str]:
    """The first utterance's final text from a decoder fed it at once, and from one fed it in
    1000-sample pieces while another decoder of the same model is fed noise in between.
    `new_decoder(key)` makes an utterance decoder (native_streaming's feed/flush interface)."""
    import numpy as np

    from tests.audio_fixtures import speech

    audio = speech(UTTERANCES[0])
    whole = new_decoder("whole")
    whole.feed(audio)
    expected = whole.flush()
    pieces, other = new_decoder("pieces"), new_decoder("other")
    noise = np.random.default_rng(1).standard_normal(len(audio)).astype(np.float32) * 0.1
    for i in range(0, len(audio), 1000):
        pieces.feed(audio[i:i + 1000])
        other.feed(noise[i:i + 1000])
    return expected, pieces.flush()
