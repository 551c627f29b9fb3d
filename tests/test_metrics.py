"""Prometheus metrics of the core and a bridge after real sessions: the counts are right, the
exposition parses with prometheus_client.parser, and `promtool check metrics` accepts it."""
from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import urllib.request

import grpc
import numpy as np
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.audio_fixtures import UTTERANCES, silence, speech, to_pcm16
from tests.bridges.bridge_helpers import recv_all, start_bridge
from tests.conftest import free_port
from tests.core.grpc_helpers import audio_requests, config, recognize
from tests.security_helpers import KEYS_TOML, WEB, bearer, start_secure_core


class Metrics:
    """One scrape: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    @classmethod
    def scrape(cls, port: int) -> "Metrics":
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("text/plain")
            return cls(reply.read().decode())

    def get(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    directory = tmp_path_factory.mktemp("metrics")
    keys = directory / "keys.toml"
    keys.write_text(KEYS_TOML)
    core_port, bridge_port = free_port(), free_port()
    core = start_secure_core(directory, "--api-keys", str(keys), "--metrics-port", str(core_port),
                             "--max-sessions", "2", "--log-format", "json")
    bridge = start_bridge(directory, "nexa", core.address, "--api-keys", str(keys), "--metrics-port",
                          str(bridge_port), "--max-message-bytes", "65536", "--log-format", "json")
    yield core, core_port, bridge, bridge_port
    bridge.stop()
    core.stop()


@pytest.fixture(scope="module")
def sentence() -> bytes:
    return to_pcm16(np.concatenate([silence(0.3), speech(UTTERANCES[2]), silence(0.7)]))


async def test_core_counters_and_histograms_after_real_sessions(stack, sentence):
    core, port, _, _ = stack
    before = Metrics.scrape(port)
    calls = [await recognize(core.address, [config(interim_results=True)] + audio_requests(sentence),
                             metadata=bearer(WEB)) for _ in range(2)]
    refused = await recognize(core.address, [config()])
    # --max-sessions 2: two paced streams are open when the third asks
    paced = [asyncio.create_task(recognize(core.address, [config(interim_results=True)] + audio_requests(sentence), pace=0.1,
                                           metadata=bearer(WEB))) for _ in range(2)]
    await asyncio.sleep(1.0)
    full = await recognize(core.address, [config()], metadata=bearer(WEB))
    calls += await asyncio.gather(*paced)
    assert [c.code for c in calls] == [grpc.StatusCode.OK] * 4
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED and full.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    after = Metrics.scrape(port)

    def delta(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    whisper = {"engine": "whisper", "model": "tiny.en"}
    assert delta("asr_streams_total", code="OK", **whisper) == 4
    assert delta("asr_streams_total", code="UNAUTHENTICATED") == 1
    assert delta("asr_streams_total", code="RESOURCE_EXHAUSTED") == 1
    assert after.get("asr_streams_active") == 0 and after.get("asr_key_streams_active", key="web") == 0
    assert delta("asr_auth_failures_total", code="UNAUTHENTICATED") == 1
    assert delta("asr_admission_refusals_total", reason="TOO_MANY_SESSIONS") == 1
    assert math.isclose(delta("asr_audio_received_seconds_total"), 4 * len(sentence) / 32000, rel_tol=1e-6)
    finals = sum(len(c.finals) for c in calls)
    partials = sum(len(c.results) - len(c.finals) for c in calls)
    assert finals >= 4 and partials >= 1
    assert delta("asr_final_latency_seconds_count") == finals
    assert delta("asr_partial_lag_seconds_count") == partials
    assert 0 < delta("asr_final_latency_seconds_sum") < 60 * finals
    spans = sum((r.end_offset.ToTimedelta() - r.start_offset.ToTimedelta()).total_seconds()
                for c in calls for r in c.finals)
    assert math.isclose(delta("asr_audio_decoded_seconds_total"), spans, rel_tol=1e-6, abs_tol=1e-6)
    # every final was decoded at least once; queue waits and decode times are observed per batch
    assert delta("asr_decode_seconds_count", model="tiny.en", kind="final") >= finals
    assert delta("asr_decode_queue_wait_seconds_count", model="tiny.en", kind="final") == \
        delta("asr_decode_seconds_count", model="tiny.en", kind="final")  # --max-batch 1
    busy = delta("asr_decoder_busy_seconds_total", model="tiny.en")
    assert busy > 0 and math.isclose(busy, delta("asr_decode_seconds_sum", model="tiny.en"), rel_tol=1e-6)


async def test_bridge_counters_after_real_sessions(stack, sentence):
    core, core_port, bridge, port = stack
    url = bridge.url("/v1/audio/stream")
    before, core_before = Metrics.scrape(port), Metrics.scrape(core_port)
    chunks = [sentence[i:i + 16000] for i in range(0, len(sentence), 16000)]
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {WEB}"}) as ws:
        await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
        for chunk in chunks:
            await ws.send(chunk)
        await ws.send(json.dumps({"action": "stop"}))
        messages = await recv_all(ws)
    assert any(m["type"] == "final" for m in messages)
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(url):
            pass
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {WEB}"}) as ws:
        await ws.send(json.dumps({"language": "en-US", "sample_rate": 16000}))
        await ws.send(b"\0" * 70000)  # over --max-message-bytes: dropped with an error, the session goes on
        await ws.send(json.dumps({"action": "stop"}))
        await recv_all(ws, 30)
    await asyncio.sleep(0.5)  # the bridge counts a connection's end after the client saw the close
    after, core_after = Metrics.scrape(port), Metrics.scrape(core_port)

    def delta(name: str, **labels: str) -> float:
        return after.get(name, dialect="nexa", **labels) - before.get(name, dialect="nexa", **labels)

    assert delta("asr_bridge_connections_total") == 2 and delta("asr_bridge_connections_total", outcome="ok") >= 1
    assert after.get("asr_bridge_connections_active", dialect="nexa") == 0
    assert delta("asr_bridge_refusals_total", reason="auth") == 1
    assert delta("asr_bridge_frames_received_total", kind="binary") == len(chunks) + 1
    assert delta("asr_bridge_frames_received_total", kind="text") == 4
    assert delta("asr_bridge_frames_rejected_total", reason="too_large") == 1
    sent_text = (len(json.dumps({"language": "en-US", "sample_rate": 16000}).encode())
                 + len(json.dumps({"action": "stop"}).encode())) * 2
    assert delta("asr_bridge_received_bytes_total") == len(sentence) + 70000 + sent_text
    assert delta("asr_bridge_sent_bytes_total") >= sum(len(json.dumps(m, ensure_ascii=False).encode())
                                                       for m in messages)
    assert core_after.get("asr_streams_total", code="OK") - core_before.get("asr_streams_total", code="OK") >= 1


def test_core_round_trip_errors_are_counted_by_status_code(stack):
    _, _, bridge, port = stack
    before = Metrics.scrape(port).get("asr_bridge_core_errors_total", dialect="nexa", code="INVALID_ARGUMENT")

    async def bad_language() -> None:
        async with websockets.connect(bridge.url("/v1/audio/stream"),
                                      additional_headers={"Authorization": f"Bearer {WEB}"}) as ws:
            await ws.send(json.dumps({"language": "xx-NOPE", "sample_rate": 16000}))
            await ws.send(b"\0" * 3200)
            await recv_all(ws, 30)

    asyncio.run(bad_language())
    after = Metrics.scrape(port).get("asr_bridge_core_errors_total", dialect="nexa", code="INVALID_ARGUMENT")
    assert after - before == 1


def test_each_process_exposes_only_its_own_series(stack):
    """A bridge's /metrics holds bridge series only, and the core's only the core's: neither
    process registers the other's families (the metrics server is shared, the metrics are not)."""
    _, core_port, _, bridge_port = stack
    bridge = {s.name for s in Metrics.scrape(bridge_port).samples if s.name.startswith("asr_")}
    core = {s.name for s in Metrics.scrape(core_port).samples if s.name.startswith("asr_")}
    assert "asr_bridge_connections_total" in bridge and "asr_audio_received_seconds_total" in core
    assert {name for name in bridge if not name.startswith("asr_bridge_")} == set()
    assert {name for name in core if name.startswith("asr_bridge_")} == set()


def test_the_exposition_passes_promtool_check_metrics(stack):
    _, core_port, _, bridge_port = stack
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing on CI; .ci/run installs the Debian package prometheus")
        pytest.skip("promtool not installed (Debian package prometheus); CI installs it")
    for port in (core_port, bridge_port):
        exposition = Metrics.scrape(port).text
        done = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_json_logs_are_one_object_per_line_with_the_session_id(stack):
    core, _, bridge, _ = stack
    for log in (core.log(), bridge.log()):
        entries = [json.loads(line) for line in log.splitlines() if line.strip()]
        assert entries and all({"time", "level", "logger", "message", "session"} <= set(e) for e in entries)
        assert any(e["session"] and e["session"] in e["message"] for e in entries)
