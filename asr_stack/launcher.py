"""`make run`: the core on :50051 and every WebSocket bridge beside it, as one supervised group.

The launcher lives above the packages it starts (`core_service`, `bridges`): they never import it.

    python -m asr_stack [--core-port 50051] [--host 0.0.0.0] [--only nexa,rnnt]

Every dialect of bridges/dialects.py is started on the port and path its DialectSpec names
(`port_in_stack`). Bridges start once the core reports SERVING. A bridge that serves a page to
people (a titled `StaticDirectory`: the openai bridge's live captions) is named last, with its URL. Ctrl-C (or SIGTERM) stops the bridges first,
then the core, each with a grace period so open sessions can finish. If any process dies,
the others are stopped too and the exit code says so.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

from asr_common.logs import FORMATS, configure_logging
from bridges import dialects
from bridges.runtime import DialectSpec
from bridges.transports.http import StaticDirectory

log = logging.getLogger("stack")

BRIDGE_STOP_SECONDS = 40.0


def core_stop_seconds() -> float:
    """The longest a core may take to stop: its drain grace, finishing the streams, and stopping the server."""
    from core_service.config import ServerConfig
    from core_service.server import SERVER_STOP_SECONDS

    defaults = ServerConfig()
    return defaults.shutdown_grace + defaults.shutdown_finish_timeout + SERVER_STOP_SECONDS + 5.0


def wait_healthy(address: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"core exited with code {proc.returncode} before it was ready")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise SystemExit(f"core at {address} was not ready after {timeout:.0f} s")


def page_of(spec: DialectSpec) -> StaticDirectory | None:
    """The page a bridge serves to people (the openai bridge's live captions), if it has a title."""
    options = spec.transport_options.get("http")
    page = getattr(options, "static", None)
    return page if isinstance(page, StaticDirectory) and page.title else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m asr_stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="", help="interface for the core and the bridges "
                                                   "(default: loopback only, as no API keys are given)")
    parser.add_argument("--core-port", type=int, default=50051)
    parser.add_argument("--port-offset", type=int, default=0, help="added to every bridge port (to run a second stack)")
    parser.add_argument("--only", default="", help="comma-separated bridges to start (default: all)")
    parser.add_argument("--log-format", default=os.environ.get("ASR_LOG_FORMAT", "text"), choices=FORMATS,
                        help="text, or json (one object per line) for every process")
    parser.add_argument("core_args", nargs="*", help="extra flags for the core (after --)")
    args = parser.parse_args()
    configure_logging("INFO", args.log_format)
    os.environ["ASR_LOG_FORMAT"] = args.log_format  # the core and the bridges read it

    procs: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # SIGHUP (re-read API keys and certificates) goes to every process of the stack.
    signal.signal(signal.SIGHUP, lambda *_: [p.send_signal(signal.SIGHUP) for _, p in procs if p.poll() is None])

    host = ["--host", args.host] if args.host else []  # else each process picks loopback itself
    core = subprocess.Popen([sys.executable, "-m", "core_service", *host,
                             "--port", str(args.core_port), *args.core_args])
    procs.append(("core", core))
    core_address = f"127.0.0.1:{args.core_port}"
    wait_healthy(core_address, core)
    wanted = tuple(n.strip() for n in args.only.split(",") if n.strip()) or dialects.NAMES
    specs = dialects.installed(wanted)
    pages: list[str] = []
    for name in sorted(set(wanted) - {spec.name for spec in specs}):
        log.warning("bridge %s is not installed; skipped", name)
    for spec in specs:
        port = spec.port_in_stack + args.port_offset
        procs.append((spec.name, subprocess.Popen([sys.executable, "-m", f"bridges.{spec.name}", *host,
                                                   "--port", str(port), "--core", core_address])))
        log.info("%-12s ws://%s:%d%s", spec.name, "localhost", port, spec.path)
        pages.extend(f"{page.title}: http://localhost:{port}{page.path}" for page in [page_of(spec)] if page)
    log.info("core         grpc://localhost:%d  (asr.v1.RecognizerService; Ctrl-C stops everything)", args.core_port)
    for line in pages:
        log.info("%s", line)  # last, where a newcomer looks: the URL to open

    code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                log.error("%s exited with code %s; stopping the others", name, proc.returncode)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for name, proc in reversed(procs):  # bridges first, the core last
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=core_stop_seconds() if name == "core" else BRIDGE_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                proc.kill()
    sys.exit(code)


if __name__ == "__main__":
    main()
