"""From a catalog name to the `Model` that answers for it, built once per process."""

from __future__ import annotations

from app.models.base import Model
from app.models.catalog import BUILTIN_READER, ModelCatalog
from app.models.reader import ReaderModel


class ModelRegistry:
    """What the engine receives: `get(name)` gives the model a run names."""

    def __init__(self, catalog: ModelCatalog) -> None:
        self.catalog = catalog
        self._models: dict[str, Model] = {}

    def get(self, name: str) -> Model:
        """The model for a catalog name; raises UnknownModelError for a name not in it."""
        if name not in self._models:
            entry = self.catalog.resolve(name)
            if entry.provider_model == BUILTIN_READER:
                self._models[name] = ReaderModel(name)
            else:
                from app.models.litellm_client import LiteLLMModel

                self._models[name] = LiteLLMModel(entry)
        return self._models[name]

    def add(self, model: Model) -> None:
        """Serve `model` under its own name (tests put in-process fakes here)."""
        self._models[model.name] = model

    def knows(self, name: str) -> bool:
        return name in self._models or self.catalog.knows(name)

    @property
    def needs_litellm(self) -> bool:
        """Whether any catalog model goes through litellm (a worker then imports it at start)."""
        return any(e.provider_model != BUILTIN_READER for e in self.catalog.entries())
