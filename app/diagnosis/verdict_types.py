"""The verdict's types: what a run concludes, typed end to end (OpenAPI shows every field)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from app.diagnosis.clustered import CaseRates
from app.diagnosis.labels import Label
from app.diagnosis.sequential import unbiased_rates

Diagnosis = Literal["no_gap", "knowledge", "behavior", "mixed", "inconclusive"]
NextRung = Literal[
    "prompt", "prompt_fix", "retrieval", "retrieval_and_prompt_fix", "adapter",
    "retrieval_and_adapter",
]  # fmt: skip


class Rate(BaseModel):
    passes: int = Field(description="Passing cases; in sampled runs, passing samples")
    n: int = Field(description="Cases; in sampled runs, scored samples")
    rate: float | None = Field(description="In sampled runs, the mean of the per-case rates")
    low: float
    high: float
    cases: int | None = Field(default=None, description="Sampled runs: cases behind the rate")
    standard_error: float | None = Field(
        default=None, description="Sampled runs: clustered by case (between + within)"
    )
    effective_n: float | None = Field(
        default=None, description="Sampled runs: the sample size the Wilson interval uses"
    )


class Lift(BaseModel):
    value: float | None
    low: float
    high: float
    mid_p: float = Field(description="McNemar mid-p on the labelled cases' discordant pairs")
    exact_p: float = Field(description="McNemar exact p on the same")
    significant: bool
    method: Literal["paired_counts", "clustered"] = Field(
        default="paired_counts",
        description="paired_counts: the labels' 2x2 table (Newcombe, McNemar); clustered: the "
        "mean paired difference of per-case pass rates (sampled runs)",
    )
    p_value: float | None = Field(
        default=None, description="The p-value of the test the decision uses"
    )
    standard_error: float | None = Field(
        default=None, description="Clustered standard error of the mean paired difference"
    )


class Share(BaseModel):
    value: float | None
    low: float
    high: float


class PromptFixResult(BaseModel):
    cases: int
    prompt_fix_passes: int
    control_passes: int
    fixed: int  # pass with the candidate prompt, fail on the fresh control
    broken: int  # the reverse
    mid_p: float
    remaining_failures: int
    provably_fails: bool


class ClusteredAggregate(BaseModel):
    """Sampled runs: where the lift's uncertainty comes from, and what would shrink it."""

    cases: int = Field(description="Cases observed on both arms: the unit of the aggregate")
    unbiased_cases: int = Field(
        description="Cases whose rates are the unbiased sequential estimates (the others, "
        "interrupted by errors, use plain proportions)"
    )
    samples: int = Field(description="Most samples per arm per case")
    between_case_variance: float
    within_case_variance: float = Field(description="Sampling noise, at this run's samples")
    sampling_share: float = Field(description="Share of the lift's variance that is sampling")
    lift_standard_error: float
    standard_error_at_max_samples: float = Field(
        description="If every arm had the most samples a run allows"
    )
    standard_error_with_twice_the_cases: float
    more_evidence: Literal["more_cases", "more_samples"] = Field(
        description="What would narrow the lift's interval more: sampling noise dominates "
        "(more_samples) or the spread between cases does (more_cases)"
    )


class Verdict(BaseModel):
    diagnosis: Diagnosis
    next_rung: NextRung | None
    summary: str = ""
    counts: dict[str, int]
    labelled: int
    insufficient_evidence: bool
    max_failure_rate: float
    pass_rates: dict[str, Rate]
    closed_book_provably_fails: bool
    open_book_provably_fails: bool
    lift: Lift
    knowledge_share: Share
    minimum_detectable_lift: float | None
    prompt_fix: PromptFixResult | None = None
    cases_to_decide: int | None = None
    facts_missing_answer: list[str] = []
    facts_insufficient: list[str] = Field(
        default=[], description="Cases whose facts the judge found insufficient to answer"
    )
    distraction_cases: list[str] = []
    clustered: ClusteredAggregate | None = None
    partial: bool = False


@dataclass
class CaseOutcome:
    """What the verdict needs from one case."""

    case_id: str
    label: Label
    facts_cover_answer: bool | None = None
    # For cases that ran the prompt-fix arm and its fresh open-book control:
    prompt_fix_passed: bool | None = None
    control_passed: bool | None = None
    # Passes out of scored samples per main arm (None when not stored):
    closed_passes: int | None = None
    closed_scored: int | None = None
    open_passes: int | None = None
    open_scored: int | None = None
    facts_sufficient: bool | None = None  # the judge's sufficient-context check, if asked

    def rates(self, k_max: int) -> CaseRates | None:
        """The case's observation in a sampled run: unbiased pass rates per arm."""
        if self.label == "error" or self.facts_sufficient is False:
            return None
        sc, kc, so, ko = self.closed_passes, self.closed_scored, self.open_passes, self.open_scored
        if sc is None or kc is None or so is None or ko is None or not kc or not ko:
            return None
        rates = unbiased_rates(sc, kc, so, ko, k_max)
        closed, open_ = rates if rates is not None else (sc / kc, so / ko)
        return CaseRates(closed, open_, sc, kc, so, ko, unbiased=rates is not None)
