"""The runtime's checks of an opening request (bridges/transport.py `Upgrade`), without sockets:
routing (404), the per-client and total caps (503 + Retry-After, docs/limits.md), and an upgrade
whose handshake failed no longer counting."""
from __future__ import annotations

from http import HTTPStatus

from bridges.endings import Refuse, http_refusal
from bridges.nexa import SPEC
from bridges.runtime import Bridge
from bridges.transport import Upgrade


def upgrade(path: str = "/v1/audio/stream", client: str = "10.0.0.1", alive: bool = True) -> Upgrade:
    return Upgrade(path=path, query={}, headers={}, client=client, peer=f"{client}:40000", alive=lambda: alive)


def bridge(*flags: str) -> Bridge:
    return Bridge.from_argv(SPEC, ["--port", "0", "--core", "127.0.0.1:1", *flags])


def http(refuse: Refuse | None) -> tuple[HTTPStatus, str, dict[str, str]]:
    """The HTTP answer a WebSocket or HTTP client gets for a refusal."""
    assert refuse is not None
    status, body, headers = http_refusal(refuse)
    return status, body, dict(headers)


def test_an_unknown_path_is_refused_with_404_naming_the_endpoint():
    status, body, _ = http(bridge()._check(upgrade("/nope")))
    assert status == HTTPStatus.NOT_FOUND and SPEC.path in body


def test_connections_over_the_per_client_cap_get_503_with_retry_after():
    b = bridge("--max-connections-per-client", "2")
    assert b._check(upgrade()) is None and b._check(upgrade()) is None
    status, body, headers = http(b._check(upgrade()))
    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert "per client address" in body and int(headers["Retry-After"]) > 0
    assert b._check(upgrade(client="10.0.0.2")) is None  # another client is not affected


def test_the_total_cap_refuses_and_a_failed_handshake_frees_its_place():
    b = bridge("--max-connections", "1")
    failed = upgrade(alive=True)
    assert b._check(failed) is None
    status, body, _ = http(b._check(upgrade(client="10.0.0.2")))
    assert status == HTTPStatus.SERVICE_UNAVAILABLE and "limit of 1" in body
    object.__setattr__(failed, "alive", lambda: False)  # its handshake failed: no session will follow
    assert b._check(upgrade(client="10.0.0.2")) is None
