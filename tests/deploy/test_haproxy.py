"""deploy/haproxy/haproxy.cfg, run by the real HAProxy in front of two real cores."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from clients.sdk import RecognizerClient
from tests.audio_fixtures import PARAGRAPH, UTTERANCES, silence, speech, wer
from tests.balancing_helpers import (kill_first_core_under_two_streams, long_speech, sdk_session, sessions_started,
                                    start_haproxy)
from tests.conftest import free_port, start_core

HANG_SECONDS = 15

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None,
                                reason="haproxy is not installed (Debian: apt-get install haproxy; .ci/run installs it)")


async def wait_until_served(address: str, proc: subprocess.Popen, log_path: Path, deadline_seconds: float = 30) -> None:
    started = time.monotonic()
    while time.monotonic() - started < deadline_seconds:
        assert proc.poll() is None, f"haproxy exited:\n{log_path.read_text()[-3000:]}"
        try:
            async with RecognizerClient(address, timeout=5) as client:
                await client.list_engines()
            return
        except Exception:
            await asyncio.sleep(0.5)
    raise AssertionError(f"nothing served through haproxy at {address}:\n{log_path.read_text()[-3000:]}")


async def test_proxy_spreads_streams_and_serves_every_stream_after_a_core_dies(tmp_path):
    agent_ports = [free_port(), free_port()]
    cores = [start_core(tmp_path, "--max-sessions", "8", "--haproxy-agent-port", str(p)) for p in agent_ports]
    proxy = None
    try:
        proxy, address, log_path = start_haproxy(tmp_path, [core.address for core in cores], agent_ports)
        await wait_until_served(address, proxy, log_path)
        short = np.concatenate([silence(0.3), speech(UTTERANCES[0]), silence(0.5)])
        async with RecognizerClient(address) as client:
            for _ in range(4):
                served = await sdk_session(client, short, realtime=False)
                assert served.error is None and wer(UTTERANCES[0], served.finals) <= 0.15, served
            assert all(sessions_started(core.log()) >= 1 for core in cores), "the proxy uses both cores"

            long_audio = long_speech()
            results, killed_at = await kill_first_core_under_two_streams(
                cores, lambda: sdk_session(client, long_audio, realtime=True))

            failed = [r for r in results if r.error is not None]
            survived = [r for r in results if r.error is None]
            assert len(failed) == 1 and len(survived) == 1, results
            assert failed[0].ended_at - killed_at < HANG_SECONDS, "a dead core must not make its stream hang"
            assert wer(PARAGRAPH, survived[0].finals) <= 0.2, survived[0]

            for _ in range(4):  # every later stream is served by the live core
                served = await sdk_session(client, short, realtime=False)
                assert served.error is None and wer(UTTERANCES[0], served.finals) <= 0.15, served
        assert "core1 is DOWN" in log_path.read_text()
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        for core in cores:
            core.stop()
