"""Whether an answer states an expected literal: found, and counted only where it is a claim.

A literal is found as whole words and whole numbers ("23" is not in "2023"); a quantity is
found however it is written ("7-year" is "7 years", "5,000" is "5000"). With the case's
question and facts at hand, an occurrence does not count when it is an echo (pasted facts, a
repeated question), a denial, or stated beside a conflicting value of the same kind; the
reason says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.diagnosis.grading import claims, echoes
from app.diagnosis.grading.context import GradingContext
from app.diagnosis.grading.specs import normalise
from app.diagnosis.grading.text import Span, as_quantity, occurrences, quantity_occurrences, words


@dataclass(frozen=True)
class Finding:
    """Whether a value counts as stated, and if it occurs but does not count, why not."""

    found: bool
    why_not: str | None = None


def find_spans(value: str, text: str) -> list[Span]:
    """Where a normalised value occurs in a normalised text."""
    quantity = as_quantity(value)
    if quantity is not None:
        return [q.span for q in quantity_occurrences(quantity, text)]
    return occurrences(value, text)


def _echo_reason(value: str, copy: echoes.Copy, pasted: bool) -> str:
    if pasted:
        return f"the answer pastes the injected facts back; {value!r} is only in the copy"
    if copy.offers_choice:
        return "the answer repeats the question's options; it does not choose"
    return f"the answer only repeats the question, which holds {value!r}"


def find_value(
    value: str, text: str, context: GradingContext | None, case_sensitive: bool = False
) -> Finding:
    """Does the normalised answer `text` state `value`? Without a context, occurrence is enough."""
    want = normalise(value, case_sensitive)
    spans = find_spans(want, text)
    if not spans or context is None:
        return Finding(bool(spans))
    question = normalise(context.question, case_sensitive)
    facts = tuple(normalise(f, case_sensitive) for f in context.facts)
    pasted = echoes.pasted_facts(text, facts)
    repeated = echoes.question_copies(text, question)
    size = len(words(want))
    may_deny = _may_be_denied(want, facts)
    kept: list[Span] = []
    why_not: str | None = None
    for span in spans:
        reason = None
        clause = claims.denial(text, span) if may_deny else None
        if clause is not None:
            reason = f"the answer denies {value!r}: {clause!r}"[:200]
        elif copy := echoes.echoed_by(span, size, pasted):
            reason = _echo_reason(value, copy, pasted=True)
        elif copy := echoes.echoed_by(span, size, repeated, echoes.MIN_WORDS_AROUND):
            reason = _echo_reason(value, copy, pasted=False)
        if reason is None:
            kept.append(span)
        why_not = why_not or reason
    if not kept:
        return Finding(False, why_not)
    other = claims.conflict(text, claims.kinds(want, facts), kept, facts, question)
    if other is not None:
        stated = text[other.span.start : other.span.end]
        unit = "" if other.unit == "$" else f" {other.unit.split(' ')[0]}"
        return Finding(
            False, f"the answer also states {stated + unit!r}, conflicting with {value!r}"
        )
    return Finding(True)


def _may_be_denied(want: str, facts: tuple[str, ...]) -> bool:
    """The denial rule reads quantities only, and not where the value is itself a negation
    ("cannot") or the facts state it negatively too: agreeing with them is no denial."""
    if not any(c.isdigit() for c in want) or claims.is_negation(want):
        return False
    return not any(claims.denial(f, s) for f in facts for s in find_spans(want, f))
