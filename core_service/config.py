"""Server configuration: one dataclass, filled from flags, ASR_* environment variables and defaults."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields

# Where finals are cut and how they are decoded (`--segmentation`, or a session's
# StreamingConfig.segmentation): live cuts at short pauses and sentence ends and decodes
# greedily; accurate lets Whisper decode long clips with beam 5 (and, with --final-window auto,
# in its full 30 s window while no final waits: engines/whisper.py), as offline
# (bench/accuracy.py measures both). The live preset is the flags' defaults.
SEGMENTATION_PRESETS: dict[str, dict[str, float]] = {
    "live": {"min_silence": 0.5, "sentence_end_silence": 0.2, "max_utterance": 15.0, "final_beam_size": 1},
    "accurate": {"min_silence": 1.5, "sentence_end_silence": 0.0, "max_utterance": 28.0, "final_beam_size": 5},
}
_LIVE = SEGMENTATION_PRESETS["live"]


def segmentation_settings(chosen: str, server_segmentation: str,
                          server_settings: dict[str, float]) -> dict[str, float]:
    """The settings (SEGMENTATION_PRESETS' keys) of a session that chose `chosen` ("" = the
    server's): the server's own flags when it is the server's segmentation, else that preset."""
    if not chosen or chosen == server_segmentation:
        return server_settings
    return SEGMENTATION_PRESETS[chosen]


@dataclass
class ServerConfig:
    host: str = field(default="", metadata={"help": "address to listen on (default: 127.0.0.1 without --api-keys, 0.0.0.0 with)"})
    port: int = field(default=50051, metadata={"help": "gRPC port"})
    engine: str = field(default="whisper", metadata={"help": "default engine for sessions that name none"})
    model: str = field(default="", metadata={"help": "default model of the default engine (empty = engine default)"})
    max_sessions: int = field(default=32, metadata={"help": "concurrent Recognize streams; more get RESOURCE_EXHAUSTED"})
    final_share_budget: float = field(default=0.7, metadata={"help": "refuse new real-time streams when their finals would use more than this share of decode time (measured over the last seconds; docs/performance.md)"})
    final_wait_budget: float = field(default=0.6, metadata={"help": "refuse new real-time streams while real-time finals wait longer than this behind other finals (s, p95 of the last 5 s)"})
    max_stream_seconds: float = field(default=3600.0, metadata={"help": "audio per stream; more gets OUT_OF_RANGE"})
    max_audio_message_bytes: int = field(default=1 << 20, metadata={"help": "largest audio message; larger gets INVALID_ARGUMENT"})
    max_undecoded_bytes: int = field(default=4 << 20, metadata={"help": "bytes of a compressed stream (FLAC, MP3, Opus, AUTO) that may arrive without yielding audio (headers, cover art); more gets INVALID_ARGUMENT, so a header-less stream cannot grow the core"})
    idle_timeout: float = field(default=300.0, metadata={"help": "seconds without any request before a stream is ended"})
    min_silence: float = field(default=_LIVE["min_silence"], metadata={"help": "default silence (s) that ends an utterance"})
    sentence_end_silence: float = field(default=_LIVE["sentence_end_silence"], metadata={"help": "pause (s) that ends an utterance whose text ends a sentence; 0 = off"})
    sentence_end_after: float = field(default=5.0, metadata={"help": "utterance length (s) from which a sentence end may end it (--sentence-end-silence); shorter ones wait for the endpoint, which Whisper transcribes more accurately (0 = any length: earlier finals for short sentences)"})
    partial_interval: float = field(default=0.5, metadata={"help": "default cadence (s) of partial results"})
    device: str = field(default="auto", metadata={"help": "where faster-whisper decodes: cpu, cuda (a GPU; the core will not start without one), or auto: cuda when CTranslate2 sees a GPU, else cpu (docs/engines.md)", "choices": ("auto", "cpu", "cuda")})
    device_index: int = field(default=0, metadata={"help": "which CUDA GPU faster-whisper decodes on (0 = the first)"})
    compute_type: str = field(default="", metadata={"help": "CTranslate2 compute type of faster-whisper: on cpu int8, int8_float32 or float32; on cuda float16, int8_float16, bfloat16, int8 or float32 (what the GPU supports); empty = int8 on cpu, float16 on cuda"})
    cpu_threads: int = field(default=1, metadata={"help": "intra-op threads per decode worker: CTranslate2, and torch (FunASR, SpeechBrain; process-wide, set once)"})
    vad_threads: int = field(default=1, metadata={"help": "ONNX Runtime threads for Silero VAD"})
    whisper_window: str = field(default="trimmed", metadata={"help": "encoder window of partials (and of finals with --final-window trimmed): trimmed (fast) or full (30 s)", "choices": ("trimmed", "full")})
    final_window: str = field(default="auto", metadata={"help": "encoder window of finals: full (Whisper's 30 s, as offline: the most accurate, ~3x the CPU of trimmed), trimmed, or auto: full for the English-only model while no real-time final waits and they used under 25% of its decode time", "choices": ("auto", "full", "trimmed")})
    decode_workers: int = field(default=2, metadata={"help": "concurrent decodes per model (CTranslate2 inter_threads); 2 x 1 thread beats 1 x 2 threads by ~60% in throughput on 2 cores"})
    max_batch: int = field(default=1, metadata={"help": "utterances decoded together in one batch"})
    route_languages: bool = field(default=True, metadata={"help": "sessions with no language and no model follow the speaker's language: English on tiny.en, other languages on base"})
    final_beam_size: int = field(default=int(_LIVE["final_beam_size"]), metadata={"help": "Whisper beam size of finals when the session does not set beam_size (partials are greedy)"})
    max_utterance: float = field(default=_LIVE["max_utterance"], metadata={"help": "seconds before a long utterance commits its stable prefix"})
    segmentation: str = field(default="live", metadata={"help": "where finals are cut and how they are decoded: live (at 0.5 s pauses and sentence ends, greedy: finals soon after each phrase) or accurate (at 1.5 s pauses or 28 s, beam 5, full windows while no final waits: Whisper hears whole passages, as offline; finals up to 1 s later at the end of a turn, later still in continuous speech); flags given explicitly win (docs/accuracy.md)", "choices": ("live", "accurate")})
    preload: str = field(default="", metadata={"help": "comma-separated engine[:model] list to load at start-up"})
    config_timeout: float = field(default=10.0, metadata={"help": "seconds a new stream has to send its config; it holds no session slot until then, and gets DEADLINE_EXCEEDED after"})
    max_backlog_seconds: float = field(default=30.0, metadata={"help": "seconds of accepted but not yet decoded audio per stream above which the core stops reading that stream (gRPC flow control slows the sender)"})
    stream_window_bytes: int = field(default=256 * 1024, metadata={"help": "HTTP/2 receive window per stream: what a client can send ahead of what the core has read (gRPC's BDP probing, which would grow it, is off)"})
    max_pending_responses: int = field(default=64, metadata={"help": "responses waiting for a slow reader above which the core stops reading that stream (and drops its partials)"})
    decode_queue_limit: int = field(default=256, metadata={"help": "decode jobs queued per model; a session submitting more waits for room"})
    realtime_factor: float = field(default=1.5, metadata={"help": "a stream sending audio faster than this many times real time (over --pacing-window) is an upload: decoded on capacity real-time streams leave over"})
    probation_seconds: float = field(default=3.0, metadata={"help": "a stream admitted while real-time capacity is full runs as an upload; if it still sends at real-time pace after this many seconds it is ended with RESOURCE_EXHAUSTED unless capacity freed up"})
    pacing_window: float = field(default=10.0, metadata={"help": "seconds of wall time over which a stream's arrival rate is measured"})
    shutdown_grace: float = field(default=30.0, metadata={"help": "seconds open streams may run on after SIGTERM/SIGINT; then each is finished as if half-closed and ended with UNAVAILABLE"})
    shutdown_finish_timeout: float = field(default=60.0, metadata={"help": "seconds the streams finished at the end of the grace get to deliver their last finals"})
    heap_trim_interval: float = field(default=10.0, metadata={"help": "seconds between frees of finished sessions' cyclic garbage (a full garbage collection, on the event loop, ~ms) and returns of freed C heap memory to the OS (glibc malloc_trim, off the event loop); 0 = off"})
    diarization_deadline: float = field(default=2.0, metadata={"help": "seconds a final waits for its speaker labels (sessions with diarization); later it goes out without them (speaker 0) and a warning is logged"})
    load_log_interval: float = field(default=30.0, metadata={"help": "seconds between the decoders' load log lines"})
    haproxy_agent_port: int = field(default=0, metadata={"help": "TCP port answering HAProxy agent checks with the health state (0 = off; see deploy/haproxy)"})
    log_level: str = field(default="INFO", metadata={"help": "logging level"})
    # Security and observability (issue 9): core_service/edge.py wires these up.
    api_keys: str = field(default="", metadata={"help": "TOML file of [[key]] tables; every RPC but health then needs a key (reloaded on SIGHUP)"})
    tls_cert: str = field(default="", metadata={"help": "PEM certificate chain: serve gRPC over TLS (with --tls-key; reloaded on SIGHUP)"})
    tls_key: str = field(default="", metadata={"help": "PEM private key of --tls-cert"})
    tls_client_ca: str = field(default="", metadata={"help": "PEM CA: require client certificates signed by it (mutual TLS)"})
    metrics_port: int = field(default=0, metadata={"help": "serve Prometheus /metrics on this port (0 = off)"})
    log_format: str = field(default="text", metadata={"help": "text, or json: one JSON object per line"})

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> "ServerConfig":
        parser = argparse.ArgumentParser(
            prog="python -m core_service",
            description="asr.v1 Recognize gRPC server. Every flag can also be set as ASR_<FLAG> "
                        "(e.g. ASR_PORT=50052).")
        for f in fields(cls):
            env = os.environ.get("ASR_" + f.name.upper())
            help_text = f"{f.metadata.get('help', '')} (default: {f.default!r}; env ASR_{f.name.upper()})".replace("%", "%%")
            if str(f.type) == "bool":
                default = env.lower() in ("1", "true", "yes", "on") if env is not None else f.default
                parser.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction,
                                    default=default, help=help_text)
                continue
            kind = {"int": int, "float": float}.get(str(f.type), str)
            default = kind(env) if env is not None else f.default
            parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=default, help=help_text,
                                choices=f.metadata.get("choices"))
        ns = parser.parse_args(argv)
        if ns.segmentation != "live":
            # the preset's settings, except those set explicitly by a flag or an ASR_* variable
            parser.set_defaults(**{f.name: None for f in fields(cls)})  # None: not on the command line
            given = {name for name, value in vars(parser.parse_args(argv)).items() if value is not None} | \
                {f.name for f in fields(cls) if "ASR_" + f.name.upper() in os.environ}
            for name, value in SEGMENTATION_PRESETS[ns.segmentation].items():
                if name not in given:
                    setattr(ns, name, value)
        return cls(**vars(ns))

    def segmentation_settings(self) -> dict[str, float]:
        """This server's segmentation settings (SEGMENTATION_PRESETS' keys), from its flags."""
        return {name: getattr(self, name) for name in _LIVE}
