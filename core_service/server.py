"""The gRPC server: RecognizerService, grpc.health.v1 and server reflection on one port."""
from __future__ import annotations

import asyncio
import logging
import signal

import grpc
from asr.v1 import asr_pb2, asr_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .admission import TOO_MANY_SESSIONS
from .config import ServerConfig
from .diarization.diarizer import pool as diarization_pool
from .diarization.encoder import SpeakerEncoder
from .diarization.encoder import availability as diarization_unavailable
from .edge import CoreEdge
from .engines import torch_threads
from .engines.base import EngineError
from .engines.registry import EngineRegistry
from .engines.whisper import WhisperEngine, WhisperOptions
from .haproxy_agent import serve_agent
from .health_state import LIVENESS_SERVICE, HealthReporter, Refusal
from .memory import bound_native_caches, freeze_startup_heap, trim_heap_every
from .servicer import RecognizerServicer

log = logging.getLogger(__name__)

SERVICE_NAME = asr_pb2.DESCRIPTOR.services_by_name["RecognizerService"].full_name


def build_registry(config: ServerConfig) -> EngineRegistry:
    torch_threads.configure(config.cpu_threads)  # process-wide: one count for every torch engine
    whisper = WhisperOptions(
        device=config.device, device_index=config.device_index,
        compute_type=config.compute_type, cpu_threads=config.cpu_threads, window=config.whisper_window,
        final_window=config.final_window, max_batch=config.max_batch, workers=config.decode_workers,
        segmentation=config.segmentation,
        max_utterance=config.max_utterance,
        sentence_end_silence=config.sentence_end_silence, sentence_end_after=config.sentence_end_after,
        vad_threads=config.vad_threads,
        final_beam_size=config.final_beam_size, route_languages=config.route_languages,
        decode_queue_limit=config.decode_queue_limit)
    return EngineRegistry(config.engine, factories={"whisper": lambda: WhisperEngine(whisper)},
                          default_model=config.model)


async def warm_up_diarization() -> None:
    """Load the speaker encoder (exporting it on first use) before the first session needs it."""
    if diarization_unavailable():
        log.info("diarization unavailable: %s", diarization_unavailable())
        return
    try:
        await asyncio.get_running_loop().run_in_executor(diarization_pool(), SpeakerEncoder.shared)
    except Exception as exc:  # sessions asking for it get speaker 0 and a warning per result
        log.warning("the speaker encoder failed to load: %s", exc)


async def serve(config: ServerConfig) -> None:
    bound_native_caches()
    try:
        registry = build_registry(config)
        engine = registry.get()  # the default engine, with the default model
    except EngineError as exc:  # a bad --engine/--model, or the engine's package is missing
        raise SystemExit(f"cannot start: {exc.message}") from None
    edge = CoreEdge.from_config(config, registry.canonical, registry.default)  # keys, TLS, host, metrics
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, edge.reload)
    server = grpc.aio.server(interceptors=edge.interceptors, options=[
        # our own cap (max_audio_message_bytes) answers with INVALID_ARGUMENT; gRPC's must be larger
        ("grpc.max_receive_message_length", config.max_audio_message_bytes + (4 << 20)),
        ("grpc.keepalive_permit_without_calls", 1),
        # a fixed per-stream window: when a session stops reading, its sender stops after this many
        # bytes (BDP probing would grow the window to megabytes per stream)
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", config.stream_window_bytes),
        ("grpc.http2.min_ping_interval_without_data_ms", 10000),
    ])
    servicer = RecognizerServicer(config, registry)
    asr_pb2_grpc.add_RecognizerServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
    address = f"{edge.host}:{config.port}"
    if edge.add_port(server, address) == 0:
        raise SystemExit(f"cannot listen on {address}; is another server using port {config.port}?")
    await health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()
    await health_servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)

    async def publish(serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, status)

    def admission_state() -> Refusal:
        refusal = servicer.admission.refusal()
        if refusal is None:
            return Refusal.NONE
        return Refusal.SESSION_CAP if refusal.reason == TOO_MANY_SESSIONS else Refusal.MEASURED_LOAD

    health_reporter = HealthReporter(publish, admission_state)
    servicer.on_admission_change = health_reporter.admission_changed
    agent = await serve_agent(edge.host, config.haproxy_agent_port, health_reporter.state) \
        if config.haproxy_agent_port else None
    log.info("listening on %s (%s); loading the default engine %s", address, edge.scheme, registry.default)
    log.info("segmentation %s: finals at %.1f s pauses, sentence ends %s, at most %.0f s; beam %d, final window %s",
             config.segmentation, config.min_silence,
             f"after {config.sentence_end_silence:.1f} s" if config.sentence_end_silence else "off",
             config.max_utterance, config.final_beam_size, config.final_window)

    try:
        await engine.warm_up()
    except EngineError as exc:  # the default engine cannot serve (a model or device that is not there)
        if agent is not None:
            agent.close()
        await server.stop(0)
        raise SystemExit(f"cannot start: {exc.message}") from None
    for item in filter(None, (p.strip() for p in config.preload.split(","))):
        name, _, model = item.partition(":")
        try:
            await registry.get(name).preload(model)
        except Exception as exc:
            log.warning("preload of %s failed: %s", item, exc)
    await warm_up_diarization()
    freeze_startup_heap()
    await health_reporter.ready()
    log.info("ready: %s serving on %s", SERVICE_NAME, address)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    load_logger = asyncio.create_task(log_load(registry, config.load_log_interval))
    heap_trimmer = asyncio.create_task(trim_heap_every(config.heap_trim_interval))
    await stop.wait()
    load_logger.cancel()
    heap_trimmer.cancel()
    await health_reporter.draining()
    await drain(servicer, health_servicer, config)
    await server.stop(SERVER_STOP_SECONDS)
    if agent is not None:
        agent.close()
    for eng in registry.loaded():
        await eng.aclose()
    log.info("stopped")


SERVER_STOP_SECONDS = 5.0  # after the drain, for calls still unwinding


async def log_load(registry: EngineRegistry, interval: float) -> None:
    """Every `interval` seconds, each decoder's work; an error is logged and the next round runs."""
    while True:
        await asyncio.sleep(interval)
        for eng in registry.loaded():
            try:
                eng.log_load()
            except Exception:
                log.exception("load logging failed for engine %s", eng.name)


async def wait_for_no_streams(servicer: RecognizerServicer, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while servicer.active and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    return not servicer.active


async def drain(servicer: RecognizerServicer, health_servicer, config: ServerConfig) -> None:
    """SIGTERM/SIGINT: NOT_SERVING, refuse new streams, let open ones run on for the grace, then
    finish each as if the client had half-closed (finals and summary, then UNAVAILABLE)."""
    log.info("shutting down: %d open streams get %.0f s to finish", servicer.active, config.shutdown_grace)
    await health_servicer.enter_graceful_shutdown()
    servicer.begin_drain()
    if await wait_for_no_streams(servicer, config.shutdown_grace):
        return
    log.info("grace over: finishing %d open streams (their accepted audio is transcribed)", servicer.active)
    servicer.end_grace()
    if not await wait_for_no_streams(servicer, config.shutdown_finish_timeout):
        log.warning("%d streams still open %.0f s after the grace; cancelling them", servicer.active,
                    config.shutdown_finish_timeout)
