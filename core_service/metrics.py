"""The core's Prometheus metrics (`--metrics-port`): names `asr_*`, base units (seconds, bytes).

Streams, audio, latency and per-key counts are recorded by `interceptors.MetricsInterceptor`
from the messages of each call; decode queue wait and decode time by `DecodeScheduler` through
`observe_decode`. `asr_common.metrics_server.serve_metrics` exposes them at http://HOST:PORT/metrics.
Only the core imports this module: a bridge's /metrics shows its own `asr_bridge_*` families.
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from 50 ms to 30 s: finals on a loaded CPU take seconds, partials less.
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
DECODE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)

STREAMS_ACTIVE = Gauge("asr_streams_active", "Recognize streams open now, by engine and model",
                       ["engine", "model"])
STREAMS = Counter("asr_streams", "Recognize streams ended, by engine, model and final gRPC status code",
                  ["engine", "model", "code"])
AUDIO_RECEIVED = Counter("asr_audio_received_seconds", "Seconds of audio received from clients")
AUDIO_DECODED = Counter("asr_audio_decoded_seconds", "Seconds of audio covered by final results")
FINAL_LATENCY = Histogram("asr_final_latency_seconds",
                          "From receiving the audio that ends an utterance to sending its final result",
                          buckets=LATENCY_BUCKETS)
PARTIAL_LAG = Histogram("asr_partial_lag_seconds",
                        "From receiving the last audio a partial result covers to sending it",
                        buckets=LATENCY_BUCKETS)
DECODE_QUEUE_WAIT = Histogram("asr_decode_queue_wait_seconds", "Time a decode request waited for a decoder",
                              ["model", "kind"], buckets=DECODE_BUCKETS)
DECODE_TIME = Histogram("asr_decode_seconds", "Time one decode batch took, by model and kind (final/partial)",
                        ["model", "kind"], buckets=DECODE_BUCKETS)
DECODE_REQUESTS = Counter("asr_decode_requests", "Requests decoded, by model and purpose (partial, final, "
                          "final_full, identify: what a decode was for)", ["model", "purpose"])
DECODE_PURPOSE_BUSY = Counter("asr_decode_purpose_seconds", "Decoder seconds by model and purpose (a batch's time "
                              "shared equally among its requests)", ["model", "purpose"])
DECODER_BUSY = Counter("asr_decoder_busy_seconds", "Seconds decoders spent decoding, by model", ["model"])
ADMISSION_REFUSALS = Counter("asr_admission_refusals", "Streams refused before they started, by reason",
                             ["reason"])
AUTH_FAILURES = Counter("asr_auth_failures", "Calls refused by API-key checks, by gRPC status code", ["code"])
KEY_STREAMS_ACTIVE = Gauge("asr_key_streams_active", "Recognize streams open now, by API key name", ["key"])


def observe_decode(model: str, final: bool, waits: list[float], seconds: float) -> None:
    """One decode batch of `model`: each request's queue wait, and the batch's decode time."""
    kind = "final" if final else "partial"
    for wait in waits:
        DECODE_QUEUE_WAIT.labels(model, kind).observe(wait)
    DECODE_TIME.labels(model, kind).observe(seconds)
    DECODER_BUSY.labels(model).inc(seconds)


def observe_purposes(model: str, purposes: list[str], seconds: float) -> None:
    """One decode batch of `model` by what each request was for (profiling: where the time goes)."""
    for purpose in purposes:
        DECODE_REQUESTS.labels(model, purpose).inc()
        DECODE_PURPOSE_BUSY.labels(model, purpose).inc(seconds / len(purposes))
