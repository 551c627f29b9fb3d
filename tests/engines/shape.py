"""Checks of what a natively streaming engine sends back, independent of the words."""
from __future__ import annotations

from asr.v1 import asr_pb2

from tests.core.grpc_helpers import Call


def seconds(d) -> float:
    return d.seconds + d.nanos / 1e9


def check_result_stream(call: Call, audio_seconds: float, expect_partials: bool = True) -> None:
    """Partials share the id of the final that follows; ids count up from 1 with no gaps;
    times are inside the audio and never go backwards between segments."""
    assert call.code.name == "OK", (call.code, call.message)
    kinds = [r.WhichOneof("response") for r in call.responses]
    assert kinds[0] == "session_started" and kinds[-1] == "summary", kinds
    results = call.results
    finals = call.finals
    assert finals, "no final result"
    assert [f.segment_id for f in finals] == list(range(1, len(finals) + 1))
    open_id = 1
    last_end = 0.0
    for r in results:
        start, end = seconds(r.start_offset), seconds(r.end_offset)
        assert r.segment_id == open_id, f"result for segment {r.segment_id} while {open_id} is open"
        assert 0.0 <= start <= end <= audio_seconds + 0.05, (start, end, audio_seconds)
        assert start >= last_end - 1e-6, "segments overlap"
        if r.is_final:
            assert r.stability == 1.0
            previous = start
            for w in r.words:  # chunk-level word times: ordered and inside the segment
                assert start - 1e-6 <= previous - 1e-6 <= seconds(w.start_offset) <= seconds(w.end_offset) <= end + 1e-6
                previous = seconds(w.end_offset)
            if r.words:
                assert "".join(w.word for w in r.words) == "".join(r.text.split())
            last_end = end
            open_id += 1
        else:
            assert r.text, "empty partial"
            assert 0.0 < r.stability < 1.0
    if expect_partials:
        assert any(not r.is_final for r in results), "no partial results"
    summary = call.responses[-1].summary
    assert summary.segment_count == len([f for f in finals if f.text])
    assert abs(seconds(summary.audio_processed) - audio_seconds) < 0.05


def speech_events(call: Call) -> list[tuple[str, float]]:
    names = {asr_pb2.SPEECH_EVENT_TYPE_SPEECH_BEGIN: "begin", asr_pb2.SPEECH_EVENT_TYPE_SPEECH_END: "end"}
    return [(names[e.type], seconds(e.offset)) for e in call.of("speech_event")]
