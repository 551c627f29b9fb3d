"""Fixtures of the Google engine tests: a fake Speech server on loopback
(tests/engines/fake_google.py) that behaves like Google where the engine depends on it (silence
gives nothing, finals only for speech, the 305 s stream limit) and whose finals name the exact
audio they cover (crc32); a core whose Google engine talks to it with short stream limits; and
`fresh`, which the modules that use the fake ask for before each test
(`pytest.mark.usefixtures("fresh")`)."""
from __future__ import annotations

import pytest

from tests.engines.google_helpers import ENDPOINT_SECONDS, IDLE_SECONDS, MAX_BACKLOG_SECONDS, RESTART_SECONDS
from tests.support import running_core


@pytest.fixture(scope="module")
def fake():
    from tests.engines.fake_google import FakeSpeech

    server = FakeSpeech(endpoint_seconds=ENDPOINT_SECONDS).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def google_core(fake, tmp_path_factory):
    with running_core(tmp_path_factory.mktemp("core-google"), env={
        "ASR_GOOGLE_ENDPOINT": fake.address, "ASR_GOOGLE_RESTART_SECONDS": str(RESTART_SECONDS),
        "ASR_GOOGLE_MAX_BACKLOG_SECONDS": str(MAX_BACKLOG_SECONDS), "ASR_GOOGLE_IDLE_SECONDS": str(IDLE_SECONDS),
    }) as core:
        yield core


@pytest.fixture
def fresh(fake):
    fake.reset()
