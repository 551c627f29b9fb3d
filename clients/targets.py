"""gRPC targets for the cores, and the balanced channel options shared by bridges and clients.

`--core` (bridges) and `--server` (SDK, CLI) take a gRPC target:

- `dns:///host:port` (gRPC re-resolves the name: a Kubernetes headless Service lists every pod),
- `ipv4:addr:port[,addr:port...]`, `ipv6:[addr]:port[,...]`, `unix:path`, `unix-abstract:name`,
- or the older `host:port[,host:port...]`, turned into one of the above by `parse_target`:
  IP literals become an `ipv4:`/`ipv6:` list, one host name becomes `dns:///host:port`, and a
  list with host names is resolved once, now, into addresses (use `dns:///` to follow changes).

Every channel built with `channel_options` balances calls with gRPC's `round_robin` policy over all
addresses the target resolves to, and watches each core with client-side health checking
(`healthCheckConfig`, grpc.health.v1, service `asr.v1.RecognizerService`): a core that is down,
draining or full (NOT_SERVING, see core_service/health_state.py) gets no new calls. A call that
fails with UNAVAILABLE before the core answered is retried on another core by gRPC's retry policy.
"""
from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Callable

RECOGNIZER_SERVICE = "asr.v1.RecognizerService"  # the health service name too
SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:")
MESSAGE_LIMIT_BYTES = 16 * 1024 * 1024

Resolver = Callable[[str], list[str]]
# gRPC's words when every core the target names answers its health check with NOT_SERVING (full or
# draining, core_service/health_state.py); such a call never reached a core.
ALL_CORES_UNHEALTHY = "backend unhealthy"
ALL_CORES_BUSY_RETRY_SECONDS = 5.0
ALL_CORES_BUSY_MESSAGE = "every speech-recognition core is at capacity or restarting"


def all_cores_busy(code_name: str, details: str) -> bool:
    """True when a call failed because no core was healthy (rather than unreachable or failing)."""
    return code_name == "UNAVAILABLE" and ALL_CORES_UNHEALTHY in (details or "")


@dataclass(frozen=True)
class Balancing:
    """How a channel spreads calls; each field ends up in the service config or a channel option."""

    policy: str = "round_robin"
    health_service: str = RECOGNIZER_SERVICE  # "" = no client-side health checking
    retry_attempts: int = 3  # attempts for a call refused with UNAVAILABLE before the core answered
    reconnect_backoff_ms: int = 250  # first/min reconnect backoff: a restarted core is back within ~1 s
    max_reconnect_backoff_ms: int = 1000
    keepalive_seconds: int = 20  # HTTP/2 ping on idle connections (the core allows one per 10 s)
    keepalive_timeout_seconds: int = 10  # a core that does not answer a ping is dropped

    def service_config(self) -> dict:
        config: dict = {
            "loadBalancingConfig": [{self.policy: {}}],
            "methodConfig": [{
                "name": [{"service": RECOGNIZER_SERVICE}],
                "retryPolicy": {"maxAttempts": self.retry_attempts, "initialBackoff": "0.1s", "maxBackoff": "1s",
                                "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
            }],
        }
        if self.health_service:
            config["healthCheckConfig"] = {"serviceName": self.health_service}
        return config


def channel_options(balancing: Balancing | None = None) -> list[tuple[str, object]]:
    """Channel arguments for a balanced, health-checked channel to the cores."""
    balancing = balancing or Balancing()
    return [
        ("grpc.service_config", json.dumps(balancing.service_config())),
        ("grpc.service_config_disable_resolution", 1),  # ours, not one from DNS TXT records
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", balancing.reconnect_backoff_ms),
        ("grpc.min_reconnect_backoff_ms", balancing.reconnect_backoff_ms),
        ("grpc.max_reconnect_backoff_ms", balancing.max_reconnect_backoff_ms),
        ("grpc.keepalive_time_ms", balancing.keepalive_seconds * 1000),
        ("grpc.keepalive_timeout_ms", balancing.keepalive_timeout_seconds * 1000),
        ("grpc.max_receive_message_length", MESSAGE_LIMIT_BYTES),
        ("grpc.max_send_message_length", MESSAGE_LIMIT_BYTES),
    ]


def resolve_host(host: str) -> list[str]:
    """The host's IPv4 addresses, else its IPv6 addresses (once, at startup)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            infos = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        return sorted({info[4][0] for info in infos})
    raise ValueError(f"cannot resolve host {host!r}; check the name or give an IP address")


def parse_target(value: str, resolve: Resolver = resolve_host) -> str:
    """A gRPC target from `value` (see the module docstring); ValueError says what is wrong."""
    value = value.strip()
    if not value:
        raise ValueError("empty target; expected dns:///HOST:PORT, ipv4:ADDR:PORT,... or HOST:PORT[,HOST:PORT]")
    if value.startswith(SCHEMES):
        _check_scheme_target(value)
        return value
    if "://" in value:
        scheme = value.split(":", 1)[0]
        raise ValueError(f"unsupported target scheme {scheme!r} in {value!r}; use one of "
                         + ", ".join(s.rstrip(":") for s in SCHEMES))
    endpoints = [_split_host_port(part.strip()) for part in value.split(",") if part.strip()]
    if not endpoints:
        raise ValueError(f"no address in {value!r}; expected HOST:PORT[,HOST:PORT...]")
    if len(endpoints) == 1 and _ip_version(endpoints[0][0]) is None:
        host, port = endpoints[0]
        return f"dns:///{host}:{port}"
    addresses: list[tuple[str, str]] = []
    for host, port in endpoints:
        ips = [host] if _ip_version(host) is not None else resolve(host)
        addresses += [(ip, port) for ip in ips]
    versions = {_ip_version(ip) for ip, _ in addresses}
    if versions == {4}:
        return "ipv4:" + ",".join(f"{ip}:{port}" for ip, port in addresses)
    if versions == {6}:
        return "ipv6:" + ",".join(f"[{ip}]:{port}" for ip, port in addresses)
    raise ValueError(f"{value!r} mixes IPv4 and IPv6 addresses; one gRPC target takes one family: "
                     "list the cores in one family, or use dns:///NAME:PORT with a name for all of them")


def _split_host_port(address: str) -> tuple[str, str]:
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
    else:
        host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {address!r}; expected HOST:PORT (IPv6: [ADDR]:PORT), e.g. localhost:50051")
    if ":" in host and (not address.startswith("[") or _ip_version(host) != 6):
        raise ValueError(f"bad address {address!r}; write IPv6 addresses in brackets: [ADDR]:PORT")
    return host, port


def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def _check_scheme_target(value: str) -> None:
    scheme, _, rest = value.partition(":")
    if scheme == "dns":
        name = rest[3:] if rest.startswith("///") else rest.split("/", 3)[-1] if rest.startswith("//") else rest
        if not name:
            raise ValueError(f"no host in {value!r}; expected dns:///HOST:PORT")
        return
    if not rest:
        raise ValueError(f"nothing after {scheme}: in {value!r}; e.g. ipv4:10.0.0.1:50051,10.0.0.2:50051 "
                         "or unix:/run/asr.sock")
    if scheme in ("ipv4", "ipv6"):
        for part in rest.split(","):
            host, port = _split_host_port(part.strip())
            if _ip_version(host) != int(scheme[-1]):
                raise ValueError(f"{part!r} in {value!r} is not an {scheme.upper()} address:port")
