"""Models reached through litellm: the only module that imports it, and only lazily.

litellm costs seconds to import and pulls in hundreds of MB, so the API process, `rung --help`,
`rung validate` and runs on `builtin/reader` never import it; a worker imports it at start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception

from app.models.base import CallResult, Completion, ModelLimits
from app.models.catalog import SCHEDULING_PARAMS, SECRET_PARAMS, ModelEntry
from app.models.concurrency import FREE_RETRIES, AdaptiveConcurrency
from app.models.pricing import token_prices

# Set before litellm is imported: otherwise it fetches a cost map at import and reads `.env`.
OFFLINE_ENVIRONMENT = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
    "LITELLM_LOG": "ERROR",
    "DISABLE_AIOHTTP_TRANSPORT": "False",
}

MAX_IN_FLIGHT = 256  # a ceiling for endpoints that declare no max_parallel_requests

_litellm_module: Any = None
_warmed_up = False


def prepare() -> None:
    """Import and configure litellm now (seconds of CPU), not on a run's first call, and make
    one call through its OpenAI-compatible path on litellm's own mock transport (no socket).

    A first call imports some 45 modules more (about 18 MB): made here, before the first worker
    forks the others (app/engine/group.py), the workers share them instead of each importing
    its own copy on its first real call.
    """
    global _warmed_up
    litellm = _litellm()
    if _warmed_up:
        return
    _warmed_up = True
    # A thread of its own: prepare() may be called from inside a running event loop.
    warm = threading.Thread(target=asyncio.run, args=(_warm_up_call(litellm),), daemon=True)
    warm.start()
    # No timeout here: the call has its own (5 s). Returning earlier would leave litellm's mock
    # transport switched on for real calls, and a fork beside a live thread.
    warm.join()


async def _warm_up_call(litellm: Any) -> None:
    entry = ModelEntry(
        model_name="rung-warm-up",
        litellm_params={
            "model": "openai/rung-warm-up",
            "api_base": "http://127.0.0.1:9/v1",  # never reached: the mock transport answers
            "api_key": "sk-rung-warm-up",
        },
    )
    litellm.network_mock = True
    try:
        call = Completion([{"role": "user", "content": "warm up"}], 0.0, None, 1, 5.0)
        await LiteLLMModel(entry, RetryPolicy(attempts=1)).complete(call)
        await asyncio.sleep(0.05)  # litellm's success logging for it runs on this loop too
    finally:
        litellm.network_mock = False
        # Its HTTP client belongs to this thread's loop, which ends here.
        litellm.in_memory_llm_clients_cache.flush_cache()


def _litellm() -> Any:
    """Import litellm once, offline and quiet."""
    global _litellm_module
    if _litellm_module is None:
        for key, value in OFFLINE_ENVIRONMENT.items():
            os.environ[key] = value
        import litellm

        litellm.custom_provider_map = [
            {"provider": "builtin", "custom_handler": _local_handler(litellm)}
        ]
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True
        litellm.num_retries = 0  # our retry layer is the only one
        # The import leaves ~400,000 objects that live as long as the process. Frozen, they are
        # out of the collector's reach: without this, each full collection during a run scanned
        # them all again (2.5 s of CPU over a 2,000-call `rung diagnose`, measured).
        gc.collect()
        gc.freeze()
        _litellm_module = litellm
    return _litellm_module


def _local_handler(litellm: Any) -> Any:
    """`builtin/<name>` through litellm: the built-in local models (app/models/local.py)."""
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import ModelResponse

    from app.models.local import runtime_for

    class LocalModels(CustomLLM):
        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            name = f"builtin/{kwargs['model']}"
            params = dict(kwargs.get("optional_params") or {})
            runtime = runtime_for(name)
            # Generation holds the GIL only between tokens: a thread keeps the loop serving.
            reply = await asyncio.to_thread(runtime.generate, kwargs["messages"], params)
            return ModelResponse(
                model=name,
                choices=[{"message": {"role": "assistant", "content": reply.text}}],
                usage={
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            )

    return LocalModels()


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
    return [str(params[k]) for k in SECRET_PARAMS if params.get(k)]


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


def call_params(entry: ModelEntry, call: Completion) -> dict[str, Any]:
    """The entry's parameters with the run's on top: the run wins, the entry fills the gaps.

    A `max_tokens` or `temperature` in the model list is a default for runs that leave it
    unset; passing both would give litellm the same keyword twice.
    """
    params = _resolve_env_refs(entry.litellm_params)
    for key in SCHEDULING_PARAMS:
        params.pop(key, None)
    params["temperature"] = call.temperature
    for key, value in (("seed", call.seed), ("max_tokens", call.max_tokens)):
        if value is not None:
            params[key] = value
    return params


class LiteLLMModel:
    """A model-list entry reached through litellm, behind the one retry layer."""

    def __init__(self, entry: ModelEntry, policy: RetryPolicy | None = None) -> None:
        self.entry = entry
        self.policy = policy or RetryPolicy()
        self._secrets = secrets_of(entry)
        self.gate = AdaptiveConcurrency(entry.limits.parallel or MAX_IN_FLIGHT)
        # Priced from the cost map rung reads itself; None: litellm has no price for it either.
        self._priced = token_prices(entry.provider_model) is not None
        self._registered = False

    @property
    def name(self) -> str:
        return self.entry.model_name

    @property
    def provider_model(self) -> str:
        return self.entry.provider_model

    @property
    def limits(self) -> ModelLimits:
        return self.entry.limits

    def identity(self) -> dict[str, Any]:
        return self.entry.identity()

    async def complete(self, call: Completion) -> CallResult:
        """One model call through the single retry layer. Never raises for provider faults.

        Each attempt passes the endpoint's adaptive gate first (time spent waiting there is not
        part of the attempt's timeout); a timeout that only says the endpoint was busy is
        retried without using up the retries.
        """
        litellm = _litellm()
        if not self._priced and not self._registered:
            # litellm prices every answer, and for a model its cost map lacks it tries name
            # after name on each call (about a fifth of its CPU per call, measured). Registered
            # with a price it finds one at once; the cost rung reports stays None ("unknown").
            # The price is not zero: a zero cost sends litellm into a per-call diagnosis of
            # why the answer was free.
            litellm.register_model({self.provider_model: _UNPRICED})
            self._registered = True
        params = call_params(self.entry, call)
        policy = self.policy
        started = time.perf_counter()
        free = 0
        last_error: BaseException | None = None

        def out_of_attempts(state: Any) -> bool:
            return bool(state.attempt_number >= policy.attempts + free) or self.gate.dead

        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=out_of_attempts,
            wait=lambda state: policy.delay(
                state.attempt_number - 1,
                _retry_after(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if last_error is not None and self.gate.dead:
                        raise last_error  # nothing ever answered: don't wait minutes more
                    async with self.gate.attempt(call.timeout) as probe:
                        sent = time.perf_counter()
                        try:
                            response = await litellm.acompletion(
                                **params,
                                messages=list(call.messages),
                                timeout=call.timeout,
                                num_retries=0,  # litellm's own retries: off
                                max_retries=0,  # the openai SDK's: off
                            )
                        except (TimeoutError, litellm.Timeout) as exc:
                            probe.timed_out = True
                            if self.gate.queue_timeout(probe) and free < FREE_RETRIES:
                                free += 1
                            last_error = exc
                            raise
                        except litellm.APIConnectionError as exc:
                            probe.unreachable = True
                            last_error = exc
                            raise
                        probe.latency = time.perf_counter() - sent
        except Exception as exc:  # provider errors arrive as many litellm classes
            return CallResult(
                text=None,
                latency_ms=(time.perf_counter() - started) * 1000,
                error_class=type(exc).__name__,
                error_message=redact(str(exc), self._secrets)[:500],
                attempts=retrying.statistics.get("attempt_number", 1),
            )
        usage = getattr(response, "usage", None)
        return CallResult(
            text=str(response.choices[0].message.content or ""),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(response),
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=retrying.statistics.get("attempt_number", 1),
        )

    def _cost(self, response: Any) -> float | None:
        """The cost litellm already worked out from its local cost map for this response.

        Asking `completion_cost` again would price every call twice. A built-in local model
        costs nothing; a model the cost map does not price is None (unknown), never 0.
        """
        if self.provider_model.startswith("builtin/"):
            return 0.0
        if not self._priced:
            return None
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        return float(cost) if isinstance(cost, int | float) else None


_UNPRICED = {"input_cost_per_token": 1e-12, "output_cost_per_token": 1e-12, "mode": "chat"}
