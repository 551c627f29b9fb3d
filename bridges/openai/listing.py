"""GET /v1/models and GET /v1/models/{id}: the models clients may name (bridges/openai/models.py)."""
from __future__ import annotations

from bridges.codec import Action, Codec
from bridges.endings import Ending, EndKind, normal
from bridges.openai.errors import SERVER_ERROR, error_body, refuse
from bridges.openai.models import ModelCatalog
from bridges.transport import SendJson

UNAVAILABLE = "the recognition service is unavailable; retry in 5 s"


class ModelsCodec(Codec):
    def __init__(self, catalog: ModelCatalog, model_id: str | None) -> None:
        self.catalog = catalog
        self.model_id = model_id

    def input_ended(self) -> list[Action]:
        if self.model_id is None:
            listed = self.catalog.models()
            return self._unavailable() if listed is None else [SendJson({"object": "list", "data": listed}), normal()]
        found = self.catalog.find(self.model_id)
        if found is False:
            return self._unavailable()
        if found is None:
            return refuse(f"The model '{self.model_id}' does not exist; GET /v1/models lists the models served",
                          "model", "model_not_found")
        return [SendJson(found), normal()]

    def _unavailable(self) -> list[Action]:
        return [SendJson(error_body(UNAVAILABLE, SERVER_ERROR)), Ending(EndKind.UNAVAILABLE, UNAVAILABLE, 5)]

    def _nothing(self, *_: object) -> list[Action]:
        """A GET has no body and opens no core stream."""
        return []

    received_text = received_bytes = core_response = core_error = _nothing
