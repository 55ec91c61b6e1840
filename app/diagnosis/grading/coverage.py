"""Whether the injected facts even contain the expected answer.

A `behavior` label (fails even with the facts) is only trustworthy if the facts were enough to
answer; where they plainly were not, the case is flagged instead of blamed on the model. Where
the facts may imply the answer without spelling it, the answer is "unknown" (None), not False:
a yes/no answer ("Is the office open on Saturdays?" from "open Monday to Friday"), or a number
that one arithmetic step makes from two numbers of the facts and the question (12 users at
$29 is 348; 20% off $80 is 64).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import permutations

from app.diagnosis.grading.literals import find_spans
from app.diagnosis.grading.specs import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    Grader,
    NumericGrader,
    normalise,
)
from app.diagnosis.grading.text import NUMBER, as_quantity

YES_NO = frozenset({"yes", "no", "true", "false"})


def expected_literals(spec: Grader) -> list[str] | None:
    """Literal answers a grader expects, or None where there is no literal (regex, judge...)."""
    if isinstance(spec, ExactGrader):
        return [spec.value]
    if isinstance(spec, ContainsGrader):
        return list(spec.values)
    if isinstance(spec, NumericGrader):
        return [f"{spec.value:g}"]
    return None


def _numbers(text: str) -> list[tuple[float, bool]]:
    """The numbers in a text, each with whether it is a percentage."""
    out = []
    for match in NUMBER.finditer(text):
        try:
            number = float(match.group(0).replace(",", ""))
        except ValueError:
            continue
        out.append((number, text[match.end() : match.end() + 1] == "%"))
    return out


def one_step_results(numbers: Iterable[tuple[float, bool]]) -> set[float]:
    """Everything one arithmetic step makes from two of the numbers: a + b, a - b, a * b, a / b,
    and for a percentage p also a * p%, a * (1 - p%) and a * (1 + p%)."""
    out: set[float] = set()
    for (a, _), (b, b_percent) in permutations(list(numbers), 2):
        out |= {a + b, a - b, a * b}
        if b:
            out.add(a / b)
        if b_percent:
            out |= {a * b / 100, a * (1 - b / 100), a * (1 + b / 100)}
    return out


def _close(x: float, y: float, tolerance: float = 0.0) -> bool:
    return abs(x - y) <= tolerance or abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1.0)


def _literal_covered(literal: str, text: str, derivable: set[float]) -> bool | None:
    value = normalise(literal)
    if find_spans(value, text):
        return True
    if value in YES_NO:
        return None  # facts imply a yes or a no; they rarely spell it
    quantity = as_quantity(value)
    if quantity is not None and any(_close(quantity.number, d) for d in derivable):
        return None
    return False


def facts_cover_answer(spec: Grader, facts: Sequence[str], question: str = "") -> bool | None:
    """Do the injected facts contain the expected answer? None where it can't be told: no
    literal to look for (regex, schema, judge), or facts that may imply it without spelling it.

    A `behavior` label is only trustworthy if the facts were sufficient; False flags cases
    where the open-book arm could not have passed by reading alone.
    """
    if isinstance(spec, AllGrader | AnyGrader):
        results = [facts_cover_answer(check, facts, question) for check in spec.checks]
        known = [r for r in results if r is not None]
        if not known:
            return None
        return all(known) if isinstance(spec, AllGrader) else any(known)
    literals = expected_literals(spec)
    if literals is None:
        return None
    text = normalise(" ".join(facts))
    derivable = one_step_results(_numbers(text) + _numbers(normalise(question)))
    if isinstance(spec, NumericGrader):
        if any(_close(n, spec.value, spec.tolerance) for n, _ in _numbers(text)):
            return True
        return None if any(_close(d, spec.value, spec.tolerance) for d in derivable) else False
    found = [_literal_covered(lit, text, derivable) for lit in literals]
    if isinstance(spec, ContainsGrader) and spec.mode == "any":
        return True if True in found else (None if None in found else False)
    return False if False in found else (None if None in found else True)
