"""Echoes: the parts of an answer that only repeat the prompt.

Small models often paste the injected "Relevant facts:" block back, or repeat the question, and
a literal check then finds the expected words in the copy. Two rules decide what is an echo:

- **Pasted facts.** Quoting the one fact that answers is answering (an extractive reader does
  exactly that). Pasting the facts block is not: the answer repeats the "Relevant facts:"
  header, or two or more of the facts word for word. Then every copied fact is an echo.
- **Repeated question.** A stretch of at least three words copied from the question is an echo
  for a value inside it when it reaches at least two words beyond the value: "run large or
  small" repeats the question's options, "They run small" chooses one.

A value counts only where the answer states it outside its echoes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from app.diagnosis.grading.text import Span, words

MIN_COPIED_WORDS = 3  # a shorter shared run ("45 days") is a coincidence, not a copy
MIN_WORDS_AROUND = 2  # words a question copy must reach beyond the value to be an echo of it
_HEADER = re.compile(r"relevant facts\s*:|</?facts>", re.IGNORECASE)


@dataclass(frozen=True)
class Copy:
    """A stretch of the answer copied from the prompt."""

    span: Span
    words: int
    offers_choice: bool = False  # the copied question text holds "… or …"


def _runs(answer: list[tuple[str, Span]], source: list[tuple[str, Span]]) -> list[tuple[int, int]]:
    """Maximal runs of answer words [i, j) that also occur consecutively in the source.

    Runs start where a three-word sequence of the source does, looked up in an index: linear
    in the answer's length for ordinary text, however long the answer is.
    """
    a, s = [w for w, _ in answer], [w for w, _ in source]
    n = MIN_COPIED_WORDS
    starts: dict[tuple[str, ...], list[int]] = {}
    for k in range(len(s) - n + 1):
        starts.setdefault(tuple(s[k : k + n]), []).append(k)
    runs: list[tuple[int, int]] = []
    covered_to = 0
    for i in range(len(a) - n + 1):
        longest = 0
        for k in starts.get(tuple(a[i : i + n]), ()):
            length = n
            while i + length < len(a) and k + length < len(s) and a[i + length] == s[k + length]:
                length += 1
            longest = max(longest, length)
        if longest and i + longest > covered_to:
            runs.append((i, i + longest))
            covered_to = i + longest
    return runs


@lru_cache(maxsize=64)
def question_copies(answer: str, question: str) -> tuple[Copy, ...]:
    """Stretches of the answer copied from the question, three words or longer."""
    a, q = words(answer), words(question)
    out = []
    for i, j in _runs(a, q):
        copied = [w for w, _ in a[i:j]]
        span = Span(a[i][1].start, a[j - 1][1].end)
        out.append(Copy(span, j - i, offers_choice="or" in copied[1:-1]))
    return tuple(out)


def _fact_occurrences(a: list[tuple[str, Span]], fact: str) -> list[Span]:
    f = [w for w, _ in words(fact)]
    if len(f) < MIN_COPIED_WORDS:
        return []
    found = []
    for i, j in _runs(a, words(fact)):
        # A run as long as the fact is the fact, copied whole (possibly with more around it).
        text = [w for w, _ in a[i:j]]
        for start in range(len(text) - len(f) + 1):
            if text[start : start + len(f)] == f:
                found.append(Span(a[i + start][1].start, a[i + start + len(f) - 1][1].end))
    return found


@lru_cache(maxsize=64)
def pasted_facts(answer: str, facts: tuple[str, ...]) -> tuple[Copy, ...]:
    """The copied facts (and headers) when the answer pastes the facts block, else nothing:
    quoting a single fact with no header is an answer, not an echo."""
    a = words(answer)
    copies: list[Copy] = []
    copied_facts = 0
    for fact in dict.fromkeys(facts):
        spans = _fact_occurrences(a, fact)
        copied_facts += bool(spans)
        copies += [Copy(s, len(words(fact))) for s in spans]
    headers = [Copy(Span(m.start(), m.end()), 2) for m in _HEADER.finditer(answer)]
    return tuple(headers + copies) if headers or copied_facts >= 2 else ()


def echoed_by(
    value: Span, value_words: int, copies: tuple[Copy, ...], around: int = 0
) -> Copy | None:
    """The copy that a value occurrence only repeats, if any: one that holds it and reaches
    at least `around` words beyond it."""
    for copy in copies:
        if value.inside(copy.span) and copy.words - value_words >= around:
            return copy
    return None
