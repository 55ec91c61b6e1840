"""Where a case's expected answer appears in a text (its facts, an answer), for highlighting.

The same literals the coverage check looks for (exact and contains values, numeric values
within tolerance), matched the way the grader matches them: case-insensitively unless the
grader says otherwise, any run of whitespace as one space, edge punctuation ignored.
Graders without a literal answer (regex, JSON Schema, judge) highlight nothing.
"""

from __future__ import annotations

import re

from app.diagnosis.grading.checks import within_tolerance
from app.diagnosis.grading.specs import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    Grader,
    NumericGrader,
)
from app.diagnosis.grading.text import NUMBER

Span = tuple[int, int]
_EDGE_PUNCT = " \t\n.,;:!?\"'`"


def _literal_pattern(literal: str, case_sensitive: bool) -> re.Pattern[str] | None:
    words = literal.strip(_EDGE_PUNCT).split()
    if not words:
        return None
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(r"\s+".join(re.escape(w) for w in words), flags)


def _literal_spans(spec: Grader) -> list[tuple[str, bool]]:
    if isinstance(spec, ExactGrader):
        return [(spec.value, spec.case_sensitive)]
    if isinstance(spec, ContainsGrader):
        return [(v, spec.case_sensitive) for v in spec.values]
    return []


def answer_spans(spec: Grader, text: str) -> list[Span]:
    """Sorted, non-overlapping (start, end) offsets of the expected answer in `text`."""
    spans: list[Span] = []
    _collect(spec, text, spans)
    return _merge(spans)


def marked(spec: Grader, text: str) -> list[str]:
    """`text` cut into pieces that alternate unmarked, marked, unmarked...: [text] when the
    answer is not in it. Pieces, not offsets: a browser counts UTF-16 units, Python code points.
    """
    pieces: list[str] = []
    at = 0
    for start, end in answer_spans(spec, text):
        pieces += [text[at:start], text[start:end]]
        at = end
    pieces.append(text[at:])
    return pieces


def _collect(spec: Grader, text: str, spans: list[Span]) -> None:
    if isinstance(spec, AllGrader | AnyGrader):
        for check in spec.checks:
            _collect(check, text, spans)
        return
    if isinstance(spec, NumericGrader):
        for match in NUMBER.finditer(text):
            try:
                number = float(match.group().replace(",", ""))
            except ValueError:
                continue
            if within_tolerance(number, spec):
                spans.append(match.span())
        return
    for literal, case_sensitive in _literal_spans(spec):
        pattern = _literal_pattern(literal, case_sensitive)
        if pattern is not None:
            spans.extend(m.span() for m in pattern.finditer(text))


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
