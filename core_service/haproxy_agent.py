"""HAProxy agent check: the core's health state (core_service/health_state.py) on a tiny TCP port.

HAProxy 2.6 cannot send a gRPC health check (its request body cannot hold the NUL bytes of a gRPC
frame), so deploy/haproxy/haproxy.cfg checks the gRPC port with a TCP connect and asks this agent
for the state: each connection gets one line and is closed. SERVING answers "up ready 100%";
FULL, DRAINING and STARTING answer "drain" (weight 0: no new streams, open ones go on). A core
that is gone fails both checks and HAProxy marks it DOWN.
"""
from __future__ import annotations

import asyncio
import logging

from .health_state import HealthState

log = logging.getLogger(__name__)

SERVING_REPLY = b"up ready 100%\n"
NOT_SERVING_REPLY = b"drain\n"


def agent_reply(state: HealthState) -> bytes:
    return SERVING_REPLY if state.serving else NOT_SERVING_REPLY


async def serve_agent(host: str, port: int, state: HealthState) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(agent_reply(state))
            await asyncio.wait_for(writer.drain(), 2.0)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, port)
    log.info("HAProxy agent check on %s:%d", host, port)
    return server
