"""`python -m bridges.<dialect>`: parse flags, configure logging, serve until SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import os
import signal
import sys

from asr_common.logs import configure_logging
from bridges.core_client import DEFAULT_CORE
from bridges.runtime import Bridge, DialectSpec, build_parser
from clients.targets import parse_target

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


async def serve_until_signalled(bridge: Bridge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, bridge.reload)
    await bridge.start()
    await stop.wait()
    await bridge.shutdown()


def main(spec: DialectSpec, argv: list[str] | None = None) -> None:
    options = build_parser(spec).parse_args(argv)
    configure_logging(options.log_level, options.log_format, LOG_FORMAT)
    try:
        target = parse_target(options.core or os.environ.get("ASR_CORE") or DEFAULT_CORE)
    except ValueError as exc:
        sys.exit(f"--core: {exc}")

    async def run() -> None:  # the channel belongs to this event loop: build the bridge inside it
        await serve_until_signalled(Bridge(spec, options, target))

    asyncio.run(run())
