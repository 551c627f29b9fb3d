"""clients/targets.py: what `--core` and `--server` accept, and the balanced channel's service config."""
from __future__ import annotations

import json

import pytest

from clients.targets import Balancing, channel_options, parse_target


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"{host} should not need resolving")


@pytest.mark.parametrize("target", [
    "dns:///cores.asr.svc.cluster.local:50051",
    "dns://8.8.8.8/cores.example:50051",
    "ipv4:10.0.0.1:50051,10.0.0.2:50051",
    "ipv6:[::1]:50051,[fe80::1]:50052",
    "unix:/run/asr/core.sock",
    "unix-abstract:asr-core",
])
def test_scheme_targets_pass_through_unchanged(target):
    assert parse_target(target, resolve=no_dns) == target


def test_one_host_name_becomes_a_dns_target():
    assert parse_target("core.example:50051", resolve=no_dns) == "dns:///core.example:50051"


def test_ip_literals_become_an_ipv4_list():
    assert parse_target("10.0.0.1:1, 10.0.0.2:2", resolve=no_dns) == "ipv4:10.0.0.1:1,10.0.0.2:2"


def test_bracketed_ipv6_literals_become_an_ipv6_list():
    assert parse_target("[::1]:1,[fe80::2]:2", resolve=no_dns) == "ipv6:[::1]:1,[fe80::2]:2"


def test_a_list_with_host_names_is_resolved_once_into_addresses():
    names = {"a.example": ["10.0.0.1", "10.0.0.3"], "b.example": ["10.0.0.2"]}
    assert parse_target("a.example:1,b.example:2", resolve=names.__getitem__) == \
        "ipv4:10.0.0.1:1,10.0.0.3:1,10.0.0.2:2"


def test_localhost_list_resolves_on_this_machine():
    assert parse_target("localhost:1,127.0.0.2:2").startswith("ipv4:127.0.0.1:1,")


@pytest.mark.parametrize("value, hint", [
    ("", "empty target"),
    ("   ,  ", "no address"),
    ("localhost", "expected HOST:PORT"),
    ("host:port", "expected HOST:PORT"),
    ("host:70000", "expected HOST:PORT"),
    ("::1:50051", "brackets"),
    ("ipv4:", "nothing after ipv4:"),
    ("ipv4:[::1]:5", "not an IPV4"),
    ("ipv6:10.0.0.1:5", "not an IPV6"),
    ("dns:///", "no host"),
    ("http://core:50051", "unsupported target scheme 'http'"),
    ("10.0.0.1:1,[::1]:2", "mixes IPv4 and IPv6"),
])
def test_malformed_targets_say_what_to_write(value, hint):
    with pytest.raises(ValueError, match=hint.replace("(", r"\(").replace("[", r"\[")):
        parse_target(value, resolve=no_dns)


def test_unresolvable_name_in_a_list_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot resolve host 'no-such-host.invalid'"):
        parse_target("no-such-host.invalid:1,10.0.0.1:2")


def test_channel_uses_round_robin_with_health_checks_on_the_recognizer_service():
    options = dict(channel_options())
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": "asr.v1.RecognizerService"}
    retry = config["methodConfig"][0]["retryPolicy"]
    assert retry["retryableStatusCodes"] == ["UNAVAILABLE"] and retry["maxAttempts"] == 3
    assert options["grpc.enable_retries"] == 1
    assert options["grpc.service_config_disable_resolution"] == 1


def test_health_checking_can_be_turned_off():
    config = json.loads(dict(channel_options(Balancing(health_service="")))["grpc.service_config"])
    assert "healthCheckConfig" not in config
