"""What the server offers and whether it works: the served models and ``/healthz``."""

from __future__ import annotations

import re

from lamina.api.schemas import DEFAULT_MODEL, OUTPUT_SCHEMA, ModelInfo, SubmitRequest
from lamina.api.service.base import ServiceBase
from lamina.errors import BadInput, NotFound
from lamina.storage import StorageUnavailable

MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

HEALTH_CACHE_S = 1.0
"""How long a dependency check answers ``/healthz`` (probes poll it often)."""


class InfoMixin(ServiceBase):
    """The model catalogue and the health check; no caller needed."""

    def models(self) -> list[ModelInfo]:
        """The served models; the engine is the configured name (not loaded here)."""
        return [
            ModelInfo(
                id=DEFAULT_MODEL,
                name="Qwen Image Layered",
                description="Decompose an image into RGBA layers, back to front "
                "(layer 0 is the background); compositing them gives the input back.",
                engine=str(self.settings.engine),
                input_schema=SubmitRequest.model_json_schema(),
                output_schema=OUTPUT_SCHEMA,
            )
        ]

    def model(self, model_id: str) -> ModelInfo:
        """One served model, or :class:`NotFound` (:class:`BadInput` for a malformed id)."""
        if not MODEL_ID.fullmatch(model_id):
            raise BadInput(f"{model_id!r} is not a model identifier of the form owner/name")
        for info in self.models():
            if info.id == model_id:
                return info
        raise NotFound(f"no model {model_id!r}; GET /v1/models lists the served models")

    def health(self) -> dict[str, str]:
        """``status`` (``ok`` or ``unavailable``) and, for ``database`` and ``storage``,
        ``ok`` or what is wrong; one real check of each, remembered :data:`HEALTH_CACHE_S`."""
        answer = {"status": "ok"}
        for name, check in (("database", self.store.ping), ("storage", self.storage.check)):
            try:
                check()
                answer[name] = "ok"
            except Exception as exc:
                shown = str(exc) if isinstance(exc, StorageUnavailable) else type(exc).__name__
                answer[name] = f"unavailable: {shown}"
                answer["status"] = "unavailable"
        self._health = (answer, self._clock() + HEALTH_CACHE_S)
        return answer

    def cached_health(self) -> dict[str, str] | None:
        """The last :meth:`health` while fresh, else ``None`` (never blocks: event loop)."""
        cached = self._health
        if cached is None or cached[1] <= self._clock():
            return None
        return cached[0]
