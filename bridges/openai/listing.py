"""GET /v1/models and GET /v1/models/{id}: the models clients may name (bridges/openai/models.py).

The listing comes from the bridge's `EngineCatalog`; a request that finds it stale waits for a
fresh one on its idle timer (at most `engine_catalog.WAIT_SECONDS`), then answers with what the
core said last, or 503 when it has never answered.
"""
from __future__ import annotations

from bridges.codec import Action, Codec
from bridges.endings import Ending, EndKind, normal
from bridges.engine_catalog import EngineCatalog, ListingWait
from bridges.openai.errors import SERVER_ERROR, error_body, refuse
from bridges.openai.models import find_model, listed_models
from bridges.transport import SendJson

UNAVAILABLE = "the recognition service is unavailable; retry in 5 s"


class ModelsCodec(Codec):
    def __init__(self, catalog: EngineCatalog, model_id: str | None) -> None:
        self.catalog = catalog
        self.model_id = model_id
        self.listing = ListingWait(catalog)

    def input_ended(self) -> list[Action]:
        return self._answer() if self.listing.start() else []  # else answered from `idle`

    def idle_timeout(self, default: float | None) -> float | None:
        return self.listing.timeout() if self.listing.active else default

    def idle(self) -> list[Action]:
        if self.listing.active:
            return self._answer() if self.listing.poll() else []
        return [normal("idle")]

    def _answer(self) -> list[Action]:
        if not self.catalog.known():
            return [SendJson(error_body(UNAVAILABLE, SERVER_ERROR)), Ending(EndKind.UNAVAILABLE, UNAVAILABLE, 5)]
        if self.model_id is None:
            return [SendJson({"object": "list", "data": listed_models(self.catalog.models)}), normal()]
        found = find_model(self.catalog.models, self.model_id)
        if found is None:
            return refuse(f"The model '{self.model_id}' does not exist; GET /v1/models lists the models served",
                          "model", "model_not_found")
        return [SendJson(found), normal()]

    def _nothing(self, *_: object) -> list[Action]:
        """A GET has no body and opens no core stream."""
        return []

    received_text = received_bytes = core_response = core_error = _nothing
