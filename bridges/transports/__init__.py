"""The transports the runtime can serve a dialect over, by `DialectSpec.transport` name.

Each entry names a module under bridges/transports/ whose `build(setup: ServerSetup) ->
TransportServer` makes the server (bridges/transport.py). Modules are imported only when a
dialect asks for them, so a WebSocket bridge never loads Starlette or a gRPC server.
A new transport is one module here plus one line in `FACTORIES`, and its row in the tables of
bridges/endings.py.
"""
from __future__ import annotations

import importlib

from bridges.transport import ServerSetup, TransportServer

FACTORIES: dict[str, str] = {
    "websocket": "bridges.transports.websocket",  # python-websockets' asyncio server
    "http": "bridges.transports.http",  # one port: request/response, SSE, WebSocket, static files
    "tcp": "bridges.transports.tcp",  # raw asyncio streams
    "grpc": "bridges.transports.grpc",  # a grpc.aio server with the dialect's service
}


def build_server(transport: str, setup: ServerSetup) -> TransportServer:
    """The server of `transport` for one dialect (ValueError names the known transports)."""
    if transport not in FACTORIES:
        raise ValueError(f"unknown transport {transport!r}; use one of {', '.join(FACTORIES)}")
    return importlib.import_module(FACTORIES[transport]).build(setup)
