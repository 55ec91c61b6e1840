"""What an answer claims about a quantity: whether it denies it, and whether it contradicts it.

Both rules apply to quantities (a value with a number in it), where a literal check is most
easily fooled and the reading is least ambiguous; for words a negation too often bears on
something else ("I don't know", "not only in Duluth"):

- **Denied.** "We do not have to change our passwords every 120 days" contains "120 days" and
  says the opposite. A number counts as denied when its clause (back to the last sentence
  break, comma, colon, semicolon or "but") holds a negation before it, unless a bound sits
  between the two: "not accepted after 45 days" and "no more than 14" state the limit, they
  do not deny it. Facts that state the value negatively themselves turn the rule off.
- **Contradicted.** "within 45 days … within 60 days" states the expected value and another
  of the same kind: a different number in the same unit ("$", "days", "%"; a bare expected
  number takes its unit from the facts). A number the facts state is a restatement, not a
  contradiction; so is a given of another kind in the question ("We have 12 users"), while
  one of the same kind is an option it offers ("30 days or 45 days?"). A denied number
  ("45 days, not 60 days") is no claim.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from functools import lru_cache

from app.diagnosis.grading.text import NUMBER, Quantity, Span, as_quantity, quantities, same_unit

_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot)\b|n['’]t\b", re.IGNORECASE
)
_BOUND = re.compile(
    r"\b(?:after|beyond|past|over|under|below|before|until|than|exceed\w*|only)\b",
    re.IGNORECASE,
)
# Where a clause ends: a sentence break, a comma or colon before a space ("5,000" is one
# number), a semicolon, a line break, or a "but": "It is not 90 days, it is 120 days".
_CLAUSE_BREAK = re.compile(r"[.!?,:](?:\s|$)|[;\n]|\bbut\b|\bwhereas\b", re.IGNORECASE)


def is_negation(text: str) -> bool:
    return _NEGATION.search(text) is not None


@lru_cache(maxsize=64)
def _breaks(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where the clause breaks of a text start and end, for bisecting."""
    found = [(m.start(), m.end()) for m in _CLAUSE_BREAK.finditer(text)]
    return tuple(s for s, _ in found), tuple(e for _, e in found)


def denial(text: str, where: Span) -> str | None:
    """The negated clause that holds the number at `where`, or None when it is not denied."""
    starts, ends = _breaks(text)
    before_count = bisect_right(ends, where.start)
    start = ends[before_count - 1] if before_count else 0
    before = text[start : where.start]
    cues = list(_NEGATION.finditer(before))
    if not cues or _BOUND.search(before, cues[-1].end()):
        return None  # no negation, or "not ... after 45 days": a limit, stated
    after = bisect_left(starts, where.end)
    return text[start : starts[after] if after < len(starts) else len(text)].strip()


def kinds(value: str, facts: Iterable[str]) -> list[Quantity]:
    """The quantities an expected value states, each with the unit that makes its kind.

    One quantity keeps its whole unit ("10 business days"); in a longer value each number
    keeps its first unit word ("8am to 6pm": am, pm). A bare number ("5,000") takes the unit
    the facts state it in ("5,000 points"), or has no kind.
    """
    single = as_quantity(value)
    if single is not None and single.unit:
        return [single]
    out = []
    for q in quantities(value):
        unit = q.unit.split(" ")[0] if q.unit else _unit_in_facts(q.number, facts)
        if unit:
            out.append(Quantity(q.number, unit, q.span))
    return out


def _unit_in_facts(number: float, facts: Iterable[str]) -> str:
    for fact in facts:
        for q in quantities(fact):
            if q.number == number and q.unit:
                return q.unit.split(" ")[0]
    return ""


def numbers_in(texts: Iterable[str]) -> set[float]:
    out = set()
    for text in texts:
        for match in NUMBER.finditer(text):
            try:
                out.add(float(match.group(0).replace(",", "")))
            except ValueError:
                continue
    return out


def conflict(
    answer: str, expected: list[Quantity], kept: list[Span], facts: Iterable[str], question: str
) -> Quantity | None:
    """Another number of an expected kind that the answer states, or None.

    `kept` are where the answer states the expected value. A number the facts state is a
    restatement; so is a number of another kind the question gives ("We have 12 users"). A
    number of the expected kind in the question is an option it offers ("30 days or 45
    days?"): stating it beside the value is not choosing.
    """
    if not expected:
        return None

    def of_kind(q: Quantity) -> bool:
        return any(same_unit(e.unit, q.unit) for e in expected)

    given = {q.number for q in quantities(question) if not of_kind(q)}
    restated = numbers_in(facts) | given | {q.number for q in expected}
    for q in quantities(answer):
        if q.number in restated or any(q.span.inside(k) for k in kept):
            continue
        if of_kind(q) and denial(answer, q.span) is None:
            return q
    return None
