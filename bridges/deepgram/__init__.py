"""Deepgram-compatible speech-to-text: python -m bridges.deepgram (docs/deepgram.md).

One HTTP port: the live API (`GET /v1/listen`, WebSocket: bridges/deepgram/live.py) and the
prerecorded API (`POST /v1/listen`, the audio as the body: bridges/deepgram/prerecorded.py).
"""
from __future__ import annotations

import json
import logging

from bridges.codec import Codec
from bridges.deepgram.live import LiveCodec
from bridges.deepgram.messages import http_error
from bridges.deepgram.options import ListenOptions
from bridges.deepgram.prerecorded import PrerecordedCodec
from bridges.endings import Refuse, RefuseKind
from bridges.fields import FieldError
from bridges.hygiene import escaped
from bridges.limits import Limits
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec
from bridges.transport import Upgrade
from bridges.transports.http import HttpOptions, HttpRoute, RouteKind

log = logging.getLogger("bridges.deepgram")

PATH = "/v1/listen"
MAX_BODY_BYTES = 100 * 1024 * 1024  # a prerecorded file (Deepgram takes up to 2 GB; 100 MB is ~50 min of WAV)


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> Codec:
    if (info.headers.get("upgrade") or "").lower() == "websocket":
        return LiveCodec(info.query, bridge.options.engine)
    return PrerecordedCodec(info.query, info.headers, bridge.options.engine)


def check_upgrade(upgrade: Upgrade) -> Refuse | None:
    """Parameters Deepgram refuses at the handshake (400): the frameworks give up on a 4xx."""
    try:
        ListenOptions.parse(upgrade.query, live=True)
    except FieldError as exc:
        log.warning("refused a request from %s before the session: %s", escaped(upgrade.peer), escaped(str(exc)))
        return Refuse(RefuseKind.BAD_REQUEST, str(exc))
    return None


def refusal_body(status: int, message: str) -> tuple[bytes, str]:
    """A refused request (401, 403, 503) in Deepgram's error shape."""
    code = {400: "Bad Request", 401: "INVALID_AUTH", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(status, "SERVICE_UNAVAILABLE")
    return json.dumps(http_error(code, message.strip(), "")).encode(), "application/json"


SPEC = DialectSpec(
    name="deepgram",
    path=PATH,
    default_port=8092,
    codec_factory=make_codec,
    transport="http",
    transport_options={"http": HttpOptions(routes=(HttpRoute(PATH, RouteKind.WEBSOCKET),
                                                   HttpRoute(PATH, RouteKind.EXCHANGE)),
                                           refusal_body=refusal_body)},
    limits=Limits(max_message_bytes=MAX_BODY_BYTES),
    check_upgrade=check_upgrade,
    reference="[Deepgram Listen API](https://developers.deepgram.com/reference/speech-to-text/listen-streaming)",
    notes="live WebSocket and prerecorded POST on one port; `deepgram-sdk` with a base URL; see [deepgram.md](docs/deepgram.md)",
)
