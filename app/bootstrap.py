"""One place that wires settings, store, catalog and engine, for every entrypoint.

The API, the worker processes, the CLI and the tests all start from `Rung.open(settings)`, so
they share one idea of what a configured rung is; nothing else builds a store or a catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from app.engine.runner import Runner
from app.models.catalog import ModelCatalog
from app.models.ratelimit import LimiterRegistry
from app.models.registry import ModelRegistry
from app.pipelines.callbacks import policy_from
from app.pipelines.ssrf import CallbackPolicy
from app.settings import Settings
from app.store import Store


class ConfigError(Exception):
    """The environment or the model list is not usable; the message is one line for the user."""


def load_settings() -> Settings:
    """Settings from the RUNG_ environment, or a ConfigError naming the variable at fault."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "RUNG_" + "_".join(str(p) for p in err["loc"][:1]).upper()
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(message if message.startswith(name) else f"{name}: {message}")
        raise ConfigError("; ".join(problems)) from None


def load_catalog(settings: Settings) -> ModelCatalog:
    """The operator's model list plus the built-in models; a ConfigError if it can't be read."""
    from app.models.catalog import ModelListError
    from app.models.local import installed_entries

    try:
        return ModelCatalog.from_file(settings.models_file, builtins=installed_entries())
    except ModelListError as exc:
        raise ConfigError(f"RUNG_MODELS_FILE: {exc}") from None


@dataclass
class Rung:
    """A configured rung: its settings, store, models and callback policy."""

    settings: Settings
    store: Store
    catalog: ModelCatalog
    models: ModelRegistry
    callbacks: CallbackPolicy

    @classmethod
    async def open(cls, settings: Settings, catalog: ModelCatalog | None = None) -> Rung:
        catalog = catalog or load_catalog(settings)
        store = await Store.open(settings.database_url)
        return cls(settings, store, catalog, ModelRegistry(catalog), policy_from(settings))

    def runner(self, limiters: LimiterRegistry | None = None) -> Runner:
        return Runner(
            self.store,
            self.models,
            default_concurrency=self.settings.default_concurrency,
            timeout=self.settings.call_timeout_seconds,
            limiters=limiters,
        )

    async def close(self) -> None:
        await self.store.close()
