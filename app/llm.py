"""The one module that talks to models. Only here is litellm imported, and only lazily.

litellm costs seconds to import and pulls in hundreds of MB, so the API process, `rung --help`
and `rung validate` never import it; the run engine does, on its first call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from app import reader

BUILTIN_READER = "builtin/reader"

# Set before litellm is imported: otherwise it fetches a cost map at import and reads `.env`.
OFFLINE_ENVIRONMENT = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
    "LITELLM_LOG": "ERROR",
    "DISABLE_AIOHTTP_TRANSPORT": "False",
}
_SECRET_PARAMS = ("api_key", "aws_secret_access_key", "aws_session_token", "vertex_credentials")


class ModelListError(ValueError):
    pass


class UnknownModelError(LookupError):
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
        info = self.model_extra.get("model_info") if self.model_extra else None
        for source in (self.litellm_params, info or {}):
            value = source.get(name)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def cache_identity(self) -> dict[str, Any]:
        """What identifies this model for the call cache: everything but the secrets."""
        return {k: v for k, v in sorted(self.litellm_params.items()) if k not in _SECRET_PARAMS}

    def public(self) -> dict[str, Any]:
        """What a caller may see: the name and the provider model, never keys or endpoints."""
        return {"model_name": self.model_name, "model": self.provider_model}


READER_ENTRY = ModelEntry(model_name=BUILTIN_READER, litellm_params={"model": BUILTIN_READER})


class ModelCatalog:
    """The operator's model list plus `builtin/reader`, which is always there."""

    def __init__(self, entries: Sequence[ModelEntry]) -> None:
        self._entries = {e.model_name: e for e in entries}
        self._entries.setdefault(BUILTIN_READER, READER_ENTRY)

    @classmethod
    def from_file(cls, path: str | Path | None) -> ModelCatalog:
        if not path:
            return cls([])
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ModelListError(f"cannot read the model list {path}: {exc}") from None
        items = data.get("model_list") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ModelListError(f"{path}: expected a `model_list:` list of entries")
        entries = []
        for index, item in enumerate(items):
            try:
                entries.append(ModelEntry.model_validate(item))
            except ValidationError as exc:
                raise ModelListError(f"{path}: model_list[{index}]: {exc}") from None
        return cls(entries)

    @property
    def names(self) -> list[str]:
        return sorted(self._entries)

    def resolve(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownModelError(name, self.names) from None


@dataclass
class CallResult:
    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    error_class: str | None = None
    error_message: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error_class is None


_litellm_module: Any = None


def prepare() -> None:
    """Import and configure litellm now (seconds of CPU), not on a run's first call."""
    _litellm()


def _litellm() -> Any:
    """Import litellm once, offline and quiet, with `builtin/reader` registered."""
    global _litellm_module
    if _litellm_module is None:
        for key, value in OFFLINE_ENVIRONMENT.items():
            os.environ[key] = value
        import litellm
        from litellm.llms.custom_llm import CustomLLM
        from litellm.types.utils import ModelResponse

        class ReaderLLM(CustomLLM):
            async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
                messages = kwargs.get("messages") or (args[1] if len(args) > 1 else [])
                answer = reader.read(messages)
                prompt_words = sum(len(str(m.get("content", "")).split()) for m in messages)
                return ModelResponse(
                    model=BUILTIN_READER,
                    choices=[{"message": {"role": "assistant", "content": answer}}],
                    usage={
                        "prompt_tokens": prompt_words,
                        "completion_tokens": len(answer.split()),
                        "total_tokens": prompt_words + len(answer.split()),
                    },
                )

        litellm.custom_provider_map = [{"provider": "builtin", "custom_handler": ReaderLLM()}]
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True
        litellm.num_retries = 0  # our retry layer is the only one
        _litellm_module = litellm
    return _litellm_module


def _resolve_env_refs(params: Mapping[str, Any]) -> dict[str, Any]:
    """`os.environ/NAME` values (litellm's proxy convention) read at call time, in the worker."""
    out = {}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("os.environ/"):
            value = os.environ.get(value.removeprefix("os.environ/"), "")
        out[key] = value
    return out


def secrets_of(entry: ModelEntry) -> list[str]:
    params = _resolve_env_refs(entry.litellm_params)
    return [str(params[k]) for k in _SECRET_PARAMS if params.get(k)]


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def _retry_after(exc: BaseException | None) -> float | None:
    for headers in (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        if headers is None:
            continue
        try:
            value = headers.get("retry-after") or headers.get("Retry-After")
        except AttributeError:
            continue
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def is_retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts and dropped connections are the provider's fault; retry them.

    400/401/403/404 and context-length errors would fail the same way again.
    """
    litellm = _litellm()
    if isinstance(exc, litellm.ContextWindowExceededError | litellm.BadRequestError):
        return False
    if isinstance(exc, litellm.Timeout | litellm.APIConnectionError | asyncio.TimeoutError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a Retry-After from the server is a floor."""
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return min(self.max_delay, max(backoff, retry_after or 0.0))


async def complete(
    entry: ModelEntry,
    messages: Sequence[Mapping[str, str]],
    *,
    temperature: float,
    seed: int | None,
    max_tokens: int | None = None,
    call_timeout: float = 60.0,
    policy: RetryPolicy = RetryPolicy(),
) -> CallResult:
    """One model call through the single retry layer. Never raises for provider faults."""
    litellm = _litellm()
    params = _resolve_env_refs(entry.litellm_params)
    for limit_key in ("rpm", "tpm", "max_parallel_requests"):
        params.pop(limit_key, None)
    secrets = secrets_of(entry)
    started = time.perf_counter()
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(policy.attempts),
        wait=lambda state: policy.delay(
            state.attempt_number - 1,
            _retry_after(state.outcome.exception()) if state.outcome else None,
        ),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                response = await litellm.acompletion(
                    **params,
                    messages=list(messages),
                    temperature=temperature,
                    seed=seed,
                    max_tokens=max_tokens,
                    timeout=call_timeout,
                    num_retries=0,  # litellm's own retries: off
                    max_retries=0,  # the openai SDK's: off
                )
    except Exception as exc:  # provider errors arrive as many litellm classes
        return CallResult(
            text=None,
            latency_ms=(time.perf_counter() - started) * 1000,
            error_class=type(exc).__name__,
            error_message=redact(str(exc), secrets)[:500],
            attempts=retrying.statistics.get("attempt_number", 1),
        )
    usage = getattr(response, "usage", None)
    return CallResult(
        text=str(response.choices[0].message.content or ""),
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost_usd=_cost(response, entry),
        latency_ms=(time.perf_counter() - started) * 1000,
        attempts=retrying.statistics.get("attempt_number", 1),
    )


def _cost(response: Any, entry: ModelEntry) -> float | None:
    """The cost litellm already worked out from its local cost map for this response.

    Asking `completion_cost` again would price every call twice; an unknown model is None.
    """
    if entry.provider_model == BUILTIN_READER:
        return 0.0
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return float(cost) if isinstance(cost, int | float) else None
