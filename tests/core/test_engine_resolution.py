"""One engine resolution in the core (core_service/engines/registry.py `EngineRegistry.resolve`):
a client, or a bridge, sends only what it was asked for; the core picks engine and model from
its own --engine and --model. The Google engine runs against the fake Speech server
(tests/engines/fake_google.py), so a core whose default engine is Google needs no account."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from core_service.engines.base import SessionSettings
from core_service.engines.registry import EngineRegistry
from tests.audio_fixtures import SAMPLE_RATE, noise, speech, to_pcm16
from tests.conftest import ROOT
from tests.support import running_core
from tests.engines.engine_helpers import needs, pcm16_config

from .grpc_helpers import audio_requests, recognize

with_google = needs("google.cloud.speech_v1", "google")


def test_a_whisper_default_core_picks_the_multilingual_model_for_a_non_english_session():
    engine, settings = EngineRegistry("whisper").resolve(SessionSettings(engine="", model="", language="de-DE"))
    assert (engine.name, settings.engine, settings.model, settings.language) == ("whisper", "whisper", "base", "de-DE")


def test_the_core_model_flag_may_name_a_model_by_its_alias():
    registry = EngineRegistry("faster-whisper", default_model="whisper-base")
    _, settings = registry.resolve(SessionSettings(engine="", model=""))
    assert (settings.engine, settings.model) == ("whisper", "base")
    assert registry.get().describe().default_model == "base"


@pytest.fixture(scope="module")
def fake_server():
    from tests.engines.fake_google import FakeSpeech

    server = FakeSpeech(endpoint_seconds=0.5).start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server):
    """The fake Google Speech server, with no streams recorded yet."""
    fake_server.reset()
    return fake_server


def three_seconds() -> bytes:
    clip = np.concatenate([speech("Set a timer for ten minutes."), noise(3.0, level=0.02)])
    return to_pcm16(clip[:3 * SAMPLE_RATE])


@with_google
async def test_a_google_default_core_sends_a_non_english_session_no_whisper_model(fake, tmp_path):
    with running_core(tmp_path, "--engine", "google", env={"ASR_GOOGLE_ENDPOINT": fake.address}) as core:
        call = await recognize(core.address, [pcm16_config("", language="de-DE"), *audio_requests(three_seconds())])
    assert call.code.name == "OK", call.message
    started = call.responses[0].session_started
    assert (started.engine, started.model) == ("google", "default")
    assert fake.streams and {s.config.config.model for s in fake.streams} == {""}  # Google's default model
    assert {s.config.config.language_code for s in fake.streams} == {"de-DE"}
    assert call.finals


@with_google
async def test_the_core_model_flag_is_the_default_model_of_its_default_engine(fake, tmp_path):
    with running_core(tmp_path, "--engine", "google", "--model", "latest_long",
                      env={"ASR_GOOGLE_ENDPOINT": fake.address}) as core:
        default = await recognize(core.address, [pcm16_config("", language="de-DE"), *audio_requests(three_seconds())])
        named = await recognize(core.address, [pcm16_config("", model="phone_call"), *audio_requests(three_seconds())])
    assert default.code.name == "OK" and named.code.name == "OK", (default.message, named.message)
    assert default.responses[0].session_started.model == "latest_long"
    assert named.responses[0].session_started.model == "phone_call"
    assert [s.config.config.model for s in fake.streams][:1] == ["latest_long"]


@with_google
def test_a_model_the_default_engine_does_not_have_stops_the_core_at_start(fake):
    proc = subprocess.run([sys.executable, "-m", "core_service", "--host", "127.0.0.1", "--port", "0",
                           "--engine", "google", "--model", "base"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "ASR_GOOGLE_ENDPOINT": fake.address})
    assert proc.returncode != 0
    assert "cannot start" in proc.stderr and "'base'" in proc.stderr and "latest_long" in proc.stderr, proc.stderr
