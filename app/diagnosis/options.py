"""A run's options, declared once.

The REST body, the webhook payload, the stored run config and the CLI flags all validate through
`RunOptions`, so a limit is written in one place and every entrypoint enforces the same one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.diagnosis.suite import FactInjection

MAX_SAMPLES = 20
MAX_CONCURRENCY = 256
MAX_REPLY_TOKENS = 100_000
MAX_PASSAGES = 20
MAX_SEED = 2**31 - 1  # providers take 32-bit seeds; each sample adds its index to the seed


class RetrievalOptions(BaseModel):
    """The retrieved arm: BM25 over a corpus puts the top-k passages where the facts went."""

    model_config = ConfigDict(extra="forbid")

    corpus_id: str | None = Field(
        default=None,
        description="A corpus stored with POST /v1/corpora; none: every case's facts pooled, "
        "so each question must find its own facts among all the others'",
    )
    k: int = Field(default=3, ge=1, le=MAX_PASSAGES, description="Passages retrieved per case")


class RunOptions(BaseModel):
    """How to diagnose: sampling, the prompt-fix arm, the failure threshold, budgets."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature")
    samples: int = Field(
        default=1,
        ge=1,
        le=MAX_SAMPLES,
        description="Most samples per arm per case; above 1 (at temperature > 0) sampling is "
        "adaptive and stops a case once its label is decided",
    )
    candidate_prompt: str | None = Field(
        default=None,
        min_length=1,
        description="A system prompt to try on the cases that fail even with the facts",
    )
    judge_model: str | None = Field(
        default=None, min_length=1, description="The model that grades `judge` graders"
    )
    max_failure_rate: float = Field(
        default=0.05,
        ge=0.0,
        lt=1.0,
        description="Acceptable failure rate: a rung provably fails when the Wilson lower "
        "bound of its failure rate exceeds it",
    )
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CONCURRENCY,
        description="Concurrent calls for this run (it can only lower the model's own limits)",
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Seed for the model; sample i uses seed + i"
    )
    max_tokens: int | None = Field(
        default=None, ge=1, le=MAX_REPLY_TOKENS, description="Reply cap per call"
    )
    injection: FactInjection = Field(
        default_factory=FactInjection, description="Where and how the facts go into the prompt"
    )
    cache: bool = Field(default=True, description="false forces fresh model calls")
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="Stop the run cleanly (cancelled, reason budget) here"
    )
    retrieval: RetrievalOptions | None = Field(
        default=None,
        description="Also try a real retriever: will retrieval recover the lift the facts give?",
    )

    @property
    def deterministic(self) -> bool:
        """One sample at temperature 0: the observed pattern is the label."""
        return self.temperature == 0 and self.samples == 1
