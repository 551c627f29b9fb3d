"""Bridges on gRPC's own balancing: one ipv4: target naming two real cores, then one core is killed."""
from __future__ import annotations

import numpy as np

from bridge_helpers import start_bridge
from test_runtime import final_text, nexa_session
from tests.audio_fixtures import PARAGRAPH, UTTERANCES, silence, speech, to_pcm16, wer
from tests.balancing_helpers import kill_first_core_under_two_streams, long_speech, paced_nexa_session, sessions_started
from tests.conftest import start_core

HANG_SECONDS = 15  # a session on a killed core must end well before this (no hang)


async def test_sessions_spread_over_two_cores_and_survive_one_core_dying(tmp_path):
    cores = [start_core(tmp_path, "--max-sessions", "8") for _ in range(2)]
    bridge = None
    try:
        target = "ipv4:" + ",".join(core.address for core in cores)
        bridge = start_bridge(tmp_path, "nexa", target)
        url = bridge.url("/v1/audio/stream")
        short = to_pcm16(np.concatenate([speech(UTTERANCES[0]), silence(0.3)]))
        for _ in range(4):
            assert wer(UTTERANCES[0], final_text(await nexa_session(url, short))) <= 0.15
        assert all(sessions_started(core.log()) >= 1 for core in cores), "round robin uses both cores"

        long_audio = long_speech()
        results, killed_at = await kill_first_core_under_two_streams(cores, lambda: paced_nexa_session(url, long_audio))

        failed = [r for r in results if r.error_at is not None]
        served = [r for r in results if r.error_at is None]
        assert len(failed) == 1 and len(served) == 1, [r.messages[-3:] for r in results]
        error = next(m for m in failed[0].messages if m["type"] == "error")
        assert "unavailable" in error["error"], error
        assert failed[0].closed_at - killed_at < HANG_SECONDS, "a dead core must not make its session hang"
        assert wer(PARAGRAPH, served[0].finals) <= 0.2, served[0].messages

        victim_total = sessions_started(cores[0].log())
        for _ in range(4):  # every later session goes to the live core
            messages = await nexa_session(url, short)
            assert not [m for m in messages if m["type"] == "error"], messages
            assert wer(UTTERANCES[0], final_text(messages)) <= 0.15, messages
        assert sessions_started(cores[0].log()) == victim_total
    finally:
        if bridge is not None:
            bridge.stop()
        for core in cores:
            core.stop()
