"""Launch the reference WhisperLive server (whisper-live 0.10.0) on CPU with a local model.

The wheel ships no `run_server.py`, so this is its equivalent for the flags the benchmark needs.
It runs under bench/.venv-whisperlive/bin/python (see bench/setup_whisperlive_ref.sh) and must
not import anything from this repository.

    bench/.venv-whisperlive/bin/python bench/whisperlive_ref_server.py --port 9091 \
        --model-path DIR [--batch] [--max-clients 4]
"""
from __future__ import annotations

import argparse
import logging
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-path", required=True, help="local CTranslate2 faster-whisper model directory")
    parser.add_argument("--max-clients", type=int, default=4)
    parser.add_argument("--max-connection-time", type=int, default=600)
    parser.add_argument("--batch", action="store_true", help="cross-client batch inference (batch_enabled)")
    parser.add_argument("--batch-max-size", type=int, default=16)
    parser.add_argument("--batch-window-ms", type=int, default=50)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()

    if not os.path.isdir(args.model_path):
        parser.error(f"--model-path {args.model_path!r} is not a directory")
    # CPU only, and never reach for the hub: the model is a local directory.
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from whisper_live.server import TranscriptionServer

    TranscriptionServer().run(
        args.host,
        port=args.port,
        backend="faster_whisper",
        faster_whisper_custom_model_path=args.model_path,
        single_model=True,
        max_clients=args.max_clients,
        max_connection_time=args.max_connection_time,
        batch_enabled=args.batch,
        batch_max_size=args.batch_max_size,
        batch_window_ms=args.batch_window_ms,
    )


if __name__ == "__main__":
    main()
