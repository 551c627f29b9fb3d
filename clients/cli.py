"""Command line: `asr transcribe FILE` and `asr engines` (the console script of the asr-gateway-client
distribution, clients/python), or `python -m clients.cli ...` from the repository.

Exit codes: 0 ok · 1 unexpected failure · 2 bad usage or unreadable audio file ·
3 server unreachable · 4 the server rejected or failed the request · 130 interrupted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .audio import AudioFileError
from .errors import RecognizerError, ServerUnreachable
from .targets import parse_target
from .render import StatusLine, engines_table, final_line, partial_status, result_json, summary_json
from .sdk import RecognizerClient, default_address, default_api_key
from .types import Event, Result, SessionStarted, StreamConfig, Summary
from .waiting import DEFAULT_MAX_WAIT, WaitPolicy

log = logging.getLogger("clients.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REJECTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def program_name() -> str:
    """`asr` when run as the installed console script, else `python -m clients.cli`."""
    return "asr" if Path(sys.argv[0]).name == "asr" else "python -m clients.cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program_name(), description="Client for the asr.v1 speech-recognition server.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    def server_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--server", default=default_address(), metavar="TARGET", type=_server_target,
                       help="gRPC target of the cores: HOST:PORT[,HOST:PORT], dns:///HOST:PORT, "
                            "ipv4:ADDR:PORT,ADDR:PORT or unix:PATH (default: $ASR_SERVER or localhost:50051)")
        p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="deadline for the whole call")
        p.add_argument("--tls", action="store_true", help="connect over TLS, trusting the system's CAs")
        p.add_argument("--ca", default=None, metavar="PEM", help="connect over TLS, trusting this CA (implies --tls)")
        p.add_argument("--api-key", default=default_api_key(), metavar="KEY",
                       help="API key sent as `authorization: Bearer` (default: $ASR_API_KEY)")
        p.add_argument("--wait", type=_seconds, default=DEFAULT_MAX_WAIT, metavar="SECONDS",
                       help="wait this long at most for a server that is starting or busy, as it asks "
                            f"(default {DEFAULT_MAX_WAIT:g} s)")
        p.add_argument("--no-wait", dest="wait", action="store_const", const=0.0,
                       help="fail at once when the server is starting or busy")

    t = sub.add_parser("transcribe", help="transcribe an audio file (WAV, FLAC, MP3, OGG, anything FFmpeg reads)")
    t.add_argument("file")
    server_arg(t)
    t.add_argument("--realtime", action="store_true", help="send audio at the speed of speech, like a microphone")
    t.add_argument("--language", default="", help="BCP-47 tag such as en-US; default: detect")
    t.add_argument("--engine", default="", help="engine name or alias; default: the server's")
    t.add_argument("--model", default="", help="model name or alias; default: the engine's")
    t.add_argument("--translate", action="store_true", help="produce English text from any language")
    t.add_argument("--json", action="store_true", help="one JSON object per result (partials and finals) on stdout")
    t.add_argument("--interim", action=argparse.BooleanOptionalAction, default=True,
                   help="ask for partial results (shown live on a terminal; included with --json)")
    t.add_argument("--word-times", action="store_true", help="ask for per-word times and print them")
    t.add_argument("--diarize", action="store_true",
                   help="label who speaks: each line starts with [S1], [S2], … (docs/diarization.md)")
    t.add_argument("--max-speakers", type=int, default=0, metavar="N",
                   help="with --diarize: at most N speakers (default: the server's limit)")
    t.add_argument("--punctuation", action="store_true", help="ask the engine for punctuation where optional")
    t.add_argument("--send-pcm", action="store_true",
                   help="decode the file here and send 16 kHz LINEAR16 (as --realtime does) instead of the file as "
                        "it is, which the server decodes")
    t.add_argument("--chunk-ms", type=int, default=100, help="PCM sent per message with --send-pcm or --realtime "
                                                               "(default 100 ms)")
    t.add_argument("--prompt", default="", metavar="TEXT",
                   help="what the speech is about (names, terms), for engines that take a prompt")
    t.add_argument("--hotwords", default="", metavar="WORD[,WORD]",
                   help="comma-separated names or phrases to favour")
    t.add_argument("--separate-channels", action="store_true",
                   help="recognize each channel of the file on its own; lines start with [chN]")
    t.add_argument("--segmentation", choices=("live", "accurate"), default="",
                   help="where finals are cut and how they are decoded: live (soon after each phrase) or "
                        "accurate (whole passages with beam 5, as offline Whisper; finals come later); "
                        "default: accurate, or the server's with --realtime")

    e = sub.add_parser("engines", help="list the server's engines, models and capabilities")
    server_arg(e)
    e.add_argument("--json", action="store_true", help="print the list as JSON")
    return parser


class TranscribePrinter:
    """Turns events into output: finals (text or JSON) on stdout, partials on a stderr status line."""

    def __init__(self, *, as_json: bool, word_times: bool, speakers: bool = False, stdout=None, stderr=None) -> None:
        self.as_json = as_json
        self.word_times = word_times
        self.speakers = speakers
        self.out = stdout or sys.stdout
        self.status = StatusLine(stderr or sys.stderr)

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            log.info("session %s on %s/%s", event.session_id, event.engine, event.model)
        elif isinstance(event, Result):
            if event.is_final:
                self.status.clear()
                if self.as_json:
                    self._print(result_json(event))
                elif event.text.strip():
                    self._print(final_line(event, self.word_times, self.speakers))
            else:
                if self.as_json:
                    self._print(result_json(event))
                self.status.show(partial_status(event))
        elif isinstance(event, Summary):
            self.status.clear()
            if self.as_json:
                self._print(summary_json(event))
            log.info("%.1f s of audio, %d segments", event.audio_processed, event.segment_count)

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        self.status.clear()


async def transcribe(args: argparse.Namespace) -> int:
    config = StreamConfig(
        engine=args.engine,
        model=args.model,
        language=args.language,
        task="translate" if args.translate else "transcribe",
        interim_results=args.interim,
        word_time_offsets=args.word_times or args.diarize,  # words carry the speakers of a turn change
        diarization=args.diarize,
        max_speakers=args.max_speakers,
        automatic_punctuation=args.punctuation,
        prompt=args.prompt,
        hotwords=tuple(h.strip() for h in args.hotwords.split(",") if h.strip()),
        separate_channels=args.separate_channels,
        segmentation=args.segmentation,
    )
    printer = TranscribePrinter(as_json=args.json, word_times=args.word_times, speakers=args.diarize)
    try:
        async with RecognizerClient(args.server, timeout=args.timeout, tls=args.tls, ca=args.ca,
                                    api_key=args.api_key) as client:
            transcript = await client.transcribe_file(
                args.file, config, realtime=args.realtime, chunk_ms=args.chunk_ms, on_event=printer,
                wait=wait_policy(args), send_pcm=args.send_pcm,
            )
    finally:
        printer.close()
    if not transcript.text.strip():
        log.warning("no speech recognized in %s", args.file)
    return EXIT_OK


async def engines(args: argparse.Namespace) -> int:
    async with RecognizerClient(args.server, timeout=args.timeout, tls=args.tls, ca=args.ca,
                                    api_key=args.api_key) as client:
        listing = await client.list_engines(wait=wait_policy(args))
    if args.json:
        print(json.dumps(listing.to_dict(), indent=2, ensure_ascii=False))
    elif not listing.engines:
        print(f"the server at {args.server} reports no engines")
    else:
        print(engines_table(listing))
    return EXIT_OK


NOTE_EVERY = 10.0  # seconds between two "still waiting" lines on stderr


def wait_policy(args: argparse.Namespace) -> WaitPolicy:
    """--wait/--no-wait as a policy that says on stderr that it waits, why and how long at most
    (when it starts, then every NOTE_EVERY seconds of waiting, not on every retry)."""
    quiet_for = [0.0]  # seconds of waiting before the next line

    def tell(error: RecognizerError, delay: float, left: float) -> None:
        if quiet_for[0] <= 0:
            _note(f"waiting for the server at {args.server}: {error.message}; trying again every {delay:g} s "
                  f"for up to {left + delay:.0f} s more (--no-wait fails at once)")
            quiet_for[0] = NOTE_EVERY
        quiet_for[0] -= delay

    return WaitPolicy(max_seconds=args.wait, on_wait=tell)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return seconds


def _server_target(value: str) -> str:
    try:
        return parse_target(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    command = {"transcribe": transcribe, "engines": engines}[args.command]
    try:
        return asyncio.run(command(args))
    except AudioFileError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ServerUnreachable as exc:
        _error(str(exc))
        return EXIT_UNREACHABLE
    except RecognizerError as exc:
        verb = "failed" if exc.code.name in ("INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED", "DATA_LOSS") else "refused"
        _error(f"the server at {exc.address} {verb} the request: {exc}" + _hint(exc))
        return EXIT_REJECTED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last resort: say what happened, exit non-zero
        log.debug("unexpected failure", exc_info=True)
        _error(f"unexpected {type(exc).__name__}: {exc} (run with -vv for details)")
        return EXIT_FAILURE


def _hint(exc: RecognizerError) -> str:
    if exc.code.name == "UNAUTHENTICATED":
        return "\nThe server needs an API key: pass --api-key KEY or set ASR_API_KEY."
    if exc.code.name == "DEADLINE_EXCEEDED":
        return "\nThe call took longer than --timeout allows; raise it or leave it out."
    if exc.retry_after is not None:
        return (f"\nThe server is busy or starting; try again in {exc.retry_after:g} s, "
                "or let the client wait longer with --wait SECONDS.")
    about_engine = any("engine" in v.field or "model" in v.field for v in exc.field_violations)
    if about_engine or exc.reason == "ENGINE_UNAVAILABLE" or exc.code.name in ("NOT_FOUND", "FAILED_PRECONDITION"):
        return f"\nSee what the server offers with `{program_name()} engines`."
    return ""


def _error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")


def _note(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
