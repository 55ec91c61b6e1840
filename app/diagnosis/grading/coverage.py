"""Whether the injected facts even contain the expected answer.

A `behavior` label (fails even with the facts) is only trustworthy if the facts were enough to
answer; where they plainly were not, the case is flagged instead of blamed on the model.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.diagnosis.grading.checks import NUMBER, within_tolerance
from app.diagnosis.grading.specs import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    Grader,
    NumericGrader,
    normalise,
)


def expected_literals(spec: Grader) -> list[str] | None:
    """Literal answers a grader expects, or None where there is no literal (regex, judge...)."""
    if isinstance(spec, ExactGrader):
        return [spec.value]
    if isinstance(spec, ContainsGrader):
        return list(spec.values)
    if isinstance(spec, NumericGrader):
        return [f"{spec.value:g}"]
    return None


def facts_cover_answer(spec: Grader, facts: Sequence[str]) -> bool | None:
    """Do the injected facts contain the expected answer? None where it can't be checked.

    A `behavior` label is only trustworthy if the facts were sufficient; this flags cases
    where the open-book arm could not have passed by reading alone.
    """
    if isinstance(spec, AllGrader | AnyGrader):
        results = [facts_cover_answer(check, facts) for check in spec.checks]
        known = [r for r in results if r is not None]
        if not known:
            return None
        return all(known) if isinstance(spec, AllGrader) else any(known)
    literals = expected_literals(spec)
    if literals is None:
        return None
    text = normalise(" ".join(facts))
    if isinstance(spec, NumericGrader):
        numbers = [float(n.replace(",", "")) for n in NUMBER.findall(" ".join(facts))]
        return any(within_tolerance(n, spec) for n in numbers)
    found = [normalise(lit) in text for lit in literals]
    if isinstance(spec, ContainsGrader) and spec.mode == "any":
        return any(found)
    return all(found)
