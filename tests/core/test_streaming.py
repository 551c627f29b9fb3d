"""Streaming recognition through the core with real speech (faster-whisper tiny.en)."""
from __future__ import annotations

import numpy as np
import pytest
from asr.v1 import asr_pb2

from tests.audio_fixtures import PARAGRAPH, UTTERANCES, noise, silence, speech, to_float32, to_pcm16, wer, with_pauses

from .grpc_helpers import audio_requests, config, recognize


def secs(d) -> float:
    return d.seconds + d.nanos / 1e9


async def test_paragraph_streaming_wer_at_most_10_percent(core_address):
    pcm = to_pcm16(np.concatenate([silence(0.3), speech(PARAGRAPH), silence(1.0)]))
    call = await recognize(core_address, [config(interim_results=True), *audio_requests(pcm)])
    assert call.code.name == "OK", call.message
    assert wer(PARAGRAPH, call.transcript) <= 0.10, call.transcript
    summary = call.of("summary")[0]
    assert summary.transcript == call.transcript
    assert summary.segment_count == len(call.finals)
    assert abs(secs(summary.audio_processed) - len(pcm) / 32000) < 0.01


async def test_session_started_reports_resolved_config(core_address):
    call = await recognize(core_address, [config(session_id="my-session-1")])
    started = call.responses[0].session_started
    assert started.session_id == "my-session-1"
    assert (started.engine, started.model) == ("whisper", "tiny.en")
    cfg = started.resolved_config
    assert cfg.sample_rate_hertz == 16000 and cfg.audio_channel_count == 1
    assert cfg.encoding == asr_pb2.AUDIO_ENCODING_LINEAR16 and cfg.language == ""  # detect (language routing)
    assert cfg.vad.enabled and cfg.vad.threshold == pytest.approx(0.5)
    assert secs(cfg.partial_interval) == pytest.approx(0.5)
    assert call.responses[-1].WhichOneof("response") == "summary"


async def test_partials_arrive_before_the_final_of_their_segment(core_address):
    pcm = to_pcm16(np.concatenate([silence(0.3), speech(PARAGRAPH.split(". ")[1]), silence(1.0)]))
    # paced in 100 ms chunks at real time, like a microphone: the cadence of partials has the
    # wall time it needs even on a busy machine (which sheds partials it cannot keep up with)
    call = await recognize(core_address, [config(interim_results=True), *audio_requests(pcm)], pace=0.1)
    order = [(r.segment_id, r.is_final) for r in call.results]
    finals = [i for i, (_, f) in enumerate(order) if f]
    assert finals and any(not f for _, f in order), order
    for seg, _ in {(s, f) for s, f in order if f}:
        partial_idx = [i for i, (s, f) in enumerate(order) if s == seg and not f]
        final_idx = order.index((seg, True))
        assert not partial_idx or max(partial_idx) < final_idx, order
    partials = [r for r in call.results if not r.is_final]
    assert all(0.0 <= p.stability <= 1.0 for p in partials)


async def test_recording_with_pauses_gives_one_final_per_utterance(core_address):
    audio, spans = with_pauses(UTTERANCES, pause=1.5)
    call = await recognize(core_address, [config(), *audio_requests(to_pcm16(audio))])
    assert len(call.finals) == len(UTTERANCES), [f.text for f in call.finals]
    for final, text, (start, end) in zip(call.finals, UTTERANCES, spans):
        assert wer(text, final.text) <= 0.2, final.text
        assert abs(secs(final.start_offset) - start) < 0.4
        assert abs(secs(final.end_offset) - end) < 0.4
        assert final.confidence > 0.5 and final.stability == 1.0
    assert [f.segment_id for f in call.finals] == sorted({f.segment_id for f in call.finals})
    events = call.of("speech_event")
    assert [e.type for e in events] == [asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN,
                                        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END] * len(UTTERANCES)


@pytest.mark.parametrize("vad", [True, False], ids=["vad", "vad-off"])
@pytest.mark.parametrize("name,audio", [("silence", silence(10.0)), ("noise", noise(10.0)),
                                        ("light noise", noise(10.0, 0.005))])
async def test_silence_and_noise_give_no_text(core_address, name, audio, vad):
    """Whatever the client's VAD choice: with it off, silence reaches the decoder, which would
    write "you" or "." for it (engines/no_speech.py)."""
    call = await recognize(core_address, [config(interim_results=True, vad=asr_pb2.VadConfig(enabled=vad)),
                                          *audio_requests(to_pcm16(audio))])
    assert call.code.name == "OK"
    assert call.results == [], [r.text for r in call.results]
    assert call.of("summary")[0].transcript == ""


async def test_word_time_offsets_are_inside_the_segment(core_address):
    text = UTTERANCES[0]
    pcm = to_pcm16(np.concatenate([silence(1.0), speech(text), silence(1.0)]))
    call = await recognize(core_address, [config(enable_word_time_offsets=True), *audio_requests(pcm)])
    (final,) = call.finals
    words = final.words
    assert len(words) >= 5
    assert " ".join(w.word for w in words).lower().startswith("please turn")
    for w in words:
        assert secs(final.start_offset) - 0.05 <= secs(w.start_offset) <= secs(w.end_offset) <= secs(final.end_offset) + 0.05
        assert 0.0 < w.confidence <= 1.0


async def test_float32_stereo_44k_is_downmixed_and_resampled(core_address):
    import soxr
    mono = np.concatenate([silence(0.3), speech(UTTERANCES[1]), silence(1.0)])
    hi = soxr.resample(mono, 16000, 44100).astype(np.float32)
    stereo = np.stack([hi, hi], axis=1).reshape(-1)
    call = await recognize(core_address, [
        config(encoding=asr_pb2.AUDIO_ENCODING_FLOAT32, sample_rate_hertz=44100, audio_channel_count=2),
        *audio_requests(to_float32(stereo), chunk=44100 * 8 // 10)])
    assert wer(UTTERANCES[1], call.transcript) <= 0.2, call.transcript


async def test_int32_audio(core_address):
    mono = np.concatenate([silence(0.3), speech(UTTERANCES[2]), silence(1.0)])
    pcm32 = (mono * 2147483000).astype("<i4").tobytes()
    call = await recognize(core_address, [config(encoding=asr_pb2.AUDIO_ENCODING_INT32), *audio_requests(pcm32, 6400)])
    assert wer(UTTERANCES[2], call.transcript) <= 0.2, call.transcript


async def test_finalize_control_flushes_the_open_utterance_without_ending_the_stream(core_address):
    first = to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[0])]))  # no trailing silence
    second = to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[2]), silence(1.0)]))
    finalize = asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(finalize=asr_pb2.FinalizeUtterance()))
    call = await recognize(core_address, [config(), *audio_requests(first), finalize, *audio_requests(second)])
    assert len(call.finals) == 2, [f.text for f in call.finals]
    assert wer(UTTERANCES[0], call.finals[0].text) <= 0.2
    assert wer(UTTERANCES[2], call.finals[1].text) <= 0.2


async def test_update_settings_mid_stream_is_acknowledged_and_applied(core_address):
    # two utterances 0.8 s apart: one final with min_silence 1.5 s, two after lowering it to 0.3 s
    audio, _ = with_pauses(UTTERANCES[:2], pause=0.8)
    upd = asr_pb2.RecognizeRequest(control=asr_pb2.StreamControl(update_settings=asr_pb2.UpdateSettings(
        vad=asr_pb2.VadConfig(min_silence_duration={"nanos": 300_000_000}))))
    slow = asr_pb2.VadConfig(min_silence_duration={"seconds": 1, "nanos": 500_000_000})
    before = await recognize(core_address, [config(vad=slow), *audio_requests(to_pcm16(audio))])
    after = await recognize(core_address, [config(vad=slow), upd, *audio_requests(to_pcm16(audio))])
    assert len(before.finals) == 1
    ack = after.of("settings_updated")[0]
    assert secs(ack.vad.min_silence_duration) == pytest.approx(0.3)
    assert len(after.finals) == 2


async def test_vad_disabled_still_transcribes_on_end_of_audio(core_address):
    pcm = to_pcm16(np.concatenate([silence(0.5), speech(UTTERANCES[1]), silence(0.5)]))
    call = await recognize(core_address, [config(vad=asr_pb2.VadConfig(enabled=False)), *audio_requests(pcm)])
    assert len(call.finals) == 1 and wer(UTTERANCES[1], call.finals[0].text) <= 0.2
    assert call.of("speech_event") == []


async def test_engine_preference_list_picks_the_first_available(core_address):
    call = await recognize(core_address, [config(engine="google,whisper", language="ar-EG")])
    started = call.responses[0].session_started
    # no Google credentials in this environment: Whisper serves, with its multilingual model
    assert (started.engine, started.model) == ("whisper", "base")
