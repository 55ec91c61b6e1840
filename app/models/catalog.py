"""The operator's model list (litellm's `model_list` format) plus the built-in models.

A run names a model from this catalog; a caller can never set `api_base` or `api_key`, which
would send the operator's provider keys anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.models.base import ModelError, ModelLimits

BUILTIN_READER = "builtin/reader"

SECRET_PARAMS = ("api_key", "aws_secret_access_key", "aws_session_token", "vertex_credentials")
# How calls are scheduled, not what they answer: never part of a call's cache identity, so
# adding a rate limit to a model entry keeps its cached answers.
SCHEDULING_PARAMS = (
    "rpm",
    "tpm",
    "max_parallel_requests",
    "timeout",
    "stream_timeout",
    "num_retries",
    "max_retries",
)

# Where a model is, not how it answers: never shown to callers.
ENDPOINT_PARAMS = ("api_base", "base_url", "api_version", "organization", "aws_region_name")


class ModelListError(ModelError, ValueError):
    """The model list cannot be read or has an invalid entry."""


class UnknownModelError(ModelError, LookupError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(f"unknown model {name!r}; known models: {', '.join(self.known)}")


class ModelEntry(BaseModel):
    """One operator-owned entry, in litellm's `model_list` format."""

    model_config = ConfigDict(extra="allow")

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]

    @property
    def provider_model(self) -> str:
        return str(self.litellm_params.get("model", ""))

    def limit(self, name: str) -> int | None:
        """rpm / tpm / max_parallel_requests, from litellm_params or model_info."""
        for source in (self.litellm_params, self.info):
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    @property
    def limits(self) -> ModelLimits:
        return ModelLimits(
            parallel=self.limit("max_parallel_requests"),
            rpm=self.limit("rpm"),
            tpm=self.limit("tpm"),
        )

    def identity(self) -> dict[str, Any]:
        """What identifies this model for the call cache: everything but secrets and limits
        (and, for a built-in local model, which weights file answers)."""
        skip = (*SECRET_PARAMS, *SCHEDULING_PARAMS)
        identity = {k: v for k, v in sorted(self.litellm_params.items()) if k not in skip}
        weights = self.info.get("weights")
        if weights is not None:
            identity["weights"] = weights
        return identity

    @property
    def info(self) -> dict[str, Any]:
        """The entry's `model_info` (litellm's place for facts about a model)."""
        info = self.model_extra.get("model_info") if self.model_extra else None
        return info if isinstance(info, dict) else {}

    def generation_params(self) -> dict[str, Any]:
        """The parameters that shape answers, safe to show: no secrets, limits or endpoints."""
        hidden = (*SECRET_PARAMS, *SCHEDULING_PARAMS, *ENDPOINT_PARAMS)
        return {k: v for k, v in sorted(self.litellm_params.items()) if k not in hidden}

    def public(self) -> dict[str, Any]:
        """What a caller may see: the name and the provider model, never keys or endpoints."""
        return {"model_name": self.model_name, "model": self.provider_model}


READER_ENTRY = ModelEntry.model_validate(
    {
        "model_name": BUILTIN_READER,
        "litellm_params": {"model": BUILTIN_READER},
        # Not a language model: a word-matching extractor, so no parameters at all. As a
        # comparison's candidate it stands for the cheapest thing a task could be routed to.
        "model_info": {"parameters": 0, "description": "extractive reader, not a language model"},
    }
)


def _problems(exc: ValidationError) -> str:
    """Pydantic's errors as `field: message`, without its type codes and links."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
    return "; ".join(parts)


class ModelCatalog:
    """The operator's model list plus the built-in models, which are always there."""

    def __init__(self, entries: Sequence[ModelEntry], builtins: Sequence[ModelEntry] = ()) -> None:
        self._entries = {e.model_name: e for e in (*builtins, READER_ENTRY)}
        self._entries.update({e.model_name: e for e in entries})

    @classmethod
    def from_file(
        cls, path: str | Path | None, builtins: Sequence[ModelEntry] = ()
    ) -> ModelCatalog:
        if not path:
            return cls([], builtins)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ModelListError(f"cannot read the model list {path}: {exc.strerror}") from None
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            reason = str(exc).splitlines()[0]
            raise ModelListError(f"the model list {path} is not valid YAML: {reason}") from None
        items = data.get("model_list") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ModelListError(f"{path}: expected a `model_list:` list of entries")
        entries = []
        for index, item in enumerate(items):
            try:
                entries.append(ModelEntry.model_validate(item))
            except ValidationError as exc:
                raise ModelListError(f"{path}: model_list[{index}]: {_problems(exc)}") from None
        return cls(entries, builtins)

    @property
    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        return [self._entries[name] for name in self.names]

    def resolve(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownModelError(name, self.names) from None

    def knows(self, name: str) -> bool:
        return name in self._entries
