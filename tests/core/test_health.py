"""grpc.health.v1 states a balancer acts on (docs/deploy.md): SERVING, FULL and DRAINING are NOT_SERVING."""
from __future__ import annotations

import asyncio
import signal
import time

import grpc
from asr.v1 import asr_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import free_port, start_core

from .grpc_helpers import config

SERVICES = ("", "asr.v1.RecognizerService")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def statuses(channel: grpc.aio.Channel) -> set[int]:
    stub = health_pb2_grpc.HealthStub(channel)
    return {(await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)).status for name in SERVICES}


async def wait_for_status(channel: grpc.aio.Channel, status: int, deadline_seconds: float = 15.0) -> float:
    """Seconds until both services report `status`; fails after the deadline."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_seconds:
        if await statuses(channel) == {status}:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"health did not become {health_pb2.HealthCheckResponse.ServingStatus.Name(status)} "
                         f"within {deadline_seconds} s: {await statuses(channel)}")


async def agent_says(port: int) -> str:
    """What the HAProxy agent check (core_service/haproxy_agent.py) answers right now."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return line.decode().strip()


async def held_stream(channel: grpc.aio.Channel, release: asyncio.Event):
    async def requests():
        yield config()
        await release.wait()

    call = asr_pb2_grpc.RecognizerServiceStub(channel).Recognize(requests())
    assert (await call.read()).WhichOneof("response") == "session_started"
    return call


async def test_core_at_its_session_cap_is_not_serving_until_a_stream_ends(tmp_path):
    agent = free_port()
    core = start_core(tmp_path, "--max-sessions", "1", "--haproxy-agent-port", str(agent))
    try:
        async with grpc.aio.insecure_channel(core.address) as channel:
            assert await statuses(channel) == {SERVING}
            assert await agent_says(agent) == "up ready 100%"
            release = asyncio.Event()
            call = await held_stream(channel, release)
            await wait_for_status(channel, NOT_SERVING)
            liveness = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="liveness"))
            assert liveness.status == SERVING, "a full core is alive: liveness probes must not restart it"
            assert await agent_says(agent) == "drain"
            release.set()
            while await call.read() is not grpc.aio.EOF:
                pass
            await wait_for_status(channel, SERVING)
            assert await agent_says(agent) == "up ready 100%"
        assert "health: NOT_SERVING (full)" in core.log()
    finally:
        core.stop()


async def test_draining_core_tells_its_watchers_not_serving_while_its_open_stream_finishes(tmp_path):
    """Balancers watch (client-side health checking uses Health.Watch); once the server stops
    accepting calls a new Check fails too, which probes and proxies read as not ready."""
    core = start_core(tmp_path, "--shutdown-grace", "20")
    try:
        async with grpc.aio.insecure_channel(core.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watches = [stub.Watch(health_pb2.HealthCheckRequest(service=name)) for name in SERVICES]
            for watch in watches:
                assert (await watch.read()).status == SERVING
            release = asyncio.Event()
            call = await held_stream(channel, release)
            core.proc.send_signal(signal.SIGTERM)
            for watch in watches:
                assert (await asyncio.wait_for(watch.read(), 15)).status == NOT_SERVING
            assert core.proc.poll() is None, "the open stream keeps the core alive while draining"
            release.set()
            while await call.read() is not grpc.aio.EOF:
                pass
            assert await call.code() == grpc.StatusCode.OK
        core.proc.wait(timeout=30)
        assert "health: NOT_SERVING (draining)" in core.log()
    finally:
        core.stop()
