"""Will retrieval actually fix it? The retrieved arm against closed-book and the gold facts.

The gold-facts arm is retrieval's upper bound: a perfect retriever would put exactly the
case's facts in the prompt. The retrieved arm puts a real retriever's top-k passages there.
Per case: recall@k is the share of the gold facts found in the retrieved passages (a passage
contains a fact when the fact's words appear in it); across the run: the three pass rates,
how much of the gold-facts lift retrieval recovers, and why the rest fails: the facts were
not retrieved, or they were retrieved and the model still misread them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from app.diagnosis.grading import normalise
from app.diagnosis.verdict import Rate, rate_of


def gold_recall(facts: Sequence[str], passages: Sequence[str]) -> float:
    """The share of the case's facts that some retrieved passage contains."""
    if not facts:
        return 1.0
    texts = [normalise(p) for p in passages]
    found = sum(1 for fact in facts if any(normalise(fact) in text for text in texts))
    return found / len(facts)


@dataclass(frozen=True)
class RetrievalCase:
    case_id: str
    closed_passed: bool | None
    gold_passed: bool | None
    retrieved_passed: bool | None
    recall: float


class RetrievalResult(BaseModel):
    k: int
    corpus_id: str | None
    cases: int = Field(description="Cases scored on closed-book, retrieved and gold facts")
    recall_at_k: float | None = Field(description="Mean share of a case's gold facts retrieved")
    fully_retrieved: int = Field(description="Cases whose every gold fact was retrieved")
    pass_rates: dict[str, Rate] = Field(description="closed_book, retrieved, gold")
    lift_recovered: float | None = Field(
        description="(retrieved - closed-book) / (gold - closed-book): the share of the facts' "
        "lift that retrieval recovers"
    )
    not_retrieved: list[str] = Field(
        description="Pass with the gold facts, fail with retrieval, facts missing from it"
    )
    misread: list[str] = Field(
        description="Pass with the gold facts, fail with retrieval although it found them all"
    )
    summary: str = ""


def build_retrieval(
    cases: Sequence[RetrievalCase], k: int, corpus_id: str | None
) -> RetrievalResult:
    scored = [
        c
        for c in cases
        if c.closed_passed is not None
        and c.gold_passed is not None
        and c.retrieved_passed is not None
    ]
    n = len(scored)
    closed = sum(1 for c in scored if c.closed_passed)
    gold = sum(1 for c in scored if c.gold_passed)
    retrieved = sum(1 for c in scored if c.retrieved_passed)
    lost = [c for c in scored if c.gold_passed and not c.retrieved_passed]
    result = RetrievalResult(
        k=k,
        corpus_id=corpus_id,
        cases=n,
        recall_at_k=round(sum(c.recall for c in cases) / len(cases), 4) if cases else None,
        fully_retrieved=sum(1 for c in cases if c.recall >= 1.0),
        pass_rates={
            "closed_book": rate_of(closed, n),
            "retrieved": rate_of(retrieved, n),
            "gold": rate_of(gold, n),
        },
        lift_recovered=round((retrieved - closed) / (gold - closed), 4) if gold > closed else None,
        not_retrieved=[c.case_id for c in lost if c.recall < 1.0],
        misread=[c.case_id for c in lost if c.recall >= 1.0],
    )
    result.summary = explain_retrieval(result)
    return result


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def explain_retrieval(r: RetrievalResult) -> str:
    rates = r.pass_rates
    parts = [
        f"With BM25 retrieval (top {r.k}) it passed {rates['retrieved'].passes} of {r.cases} "
        f"cases ({_pct(rates['retrieved'].rate)}), against {_pct(rates['closed_book'].rate)} "
        f"closed-book and {_pct(rates['gold'].rate)} with the gold facts; recall@{r.k} of the "
        f"gold facts was {_pct(r.recall_at_k)}."
    ]
    if r.lift_recovered is not None:
        parts.append(f"Retrieval recovers {_pct(r.lift_recovered)} of the lift the facts give.")
    if r.not_retrieved or r.misread:
        parts.append(
            f"Of the cases the gold facts fix but retrieval does not, {len(r.not_retrieved)} "
            f"fail because the facts were not retrieved (improve the retriever or the corpus) "
            f"and {len(r.misread)} because the model misread the passages it got."
        )
    return " ".join(parts)
