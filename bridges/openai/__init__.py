"""OpenAI-compatible speech-to-text: python -m bridges.openai (docs/openai.md).

One HTTP port: POST /v1/audio/transcriptions and /v1/audio/translations (multipart, json or
server-sent events), GET /v1/models[/{id}], and the Realtime transcription WebSocket at
/v1/realtime. The live-captions page (bridges/openai/page/, docs/page.md) at /, as static files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bridges.codec import Codec
from bridges.engine_catalog import EngineCatalog
from bridges.limits import Limits
from bridges.openai.listing import ModelsCodec
from bridges.openai.transcriptions import TranscriptionCodec
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec
from bridges.transports.http import HttpOptions, HttpRoute, RouteKind, StaticDirectory

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
MODELS = "/v1/models"
REALTIME = "/v1/realtime"
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's own file limit
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 256 * 1024  # the file and the form's fields
PAGE = StaticDirectory("/", str(Path(__file__).parent / "page"), "Live captions")  # routes above win over it


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> Codec:
    engine = bridge.options.engine
    if info.path in (TRANSCRIPTIONS, TRANSLATIONS):
        return TranscriptionCodec(info.headers, info.path == TRANSLATIONS, engine)
    if info.path == REALTIME:
        from bridges.openai.realtime import RealtimeCodec
        return RealtimeCodec(info, engine)
    model_id = info.path[len(MODELS) + 1:] if info.path.startswith(MODELS + "/") else None
    bridge.state.refresh()  # a stale listing is fetched now
    return ModelsCodec(bridge.state, model_id)


@dataclass(frozen=True)
class OpenAISpec(DialectSpec):
    """The runtime routes by one pattern; this API's paths have one to three segments."""

    def path_regex(self) -> re.Pattern[str]:
        return re.compile(r"^/v1/(?P<endpoint>[^?#]+)$")


SPEC = OpenAISpec(
    name="openai",
    path="/v1/{endpoint}",
    default_port=8088,
    codec_factory=make_codec,
    transport="http",
    transport_options={"http": HttpOptions(routes=(
        HttpRoute(TRANSCRIPTIONS, RouteKind.EVENTS), HttpRoute(TRANSLATIONS, RouteKind.EVENTS),
        HttpRoute(MODELS, RouteKind.EXCHANGE, ("GET",)), HttpRoute(MODELS + "/{model:path}", RouteKind.EXCHANGE, ("GET",)),
        HttpRoute(REALTIME, RouteKind.WEBSOCKET)), static=PAGE)},
    limits=Limits(max_message_bytes=MAX_BODY_BYTES),
    make_state=lambda context: EngineCatalog(context.pool),
    reference="[OpenAI Audio and Realtime API](https://platform.openai.com/docs/api-reference/audio)",
    notes="OpenAI SDKs with `base_url`; see [openai.md](docs/openai.md)",
)
