"""Regular expressions with a time limit, so one pathological pattern cannot stall a worker.

Python's `re` backtracks without bound (`(a+)+$` against "aaaa…ab" takes longer than the age of
the universe) and holds the GIL while it does: a thread or a task cannot interrupt it. The
`regex` module accepts the same syntax and takes a `timeout`, after which it raises.
"""

from __future__ import annotations

import regex

MATCH_SECONDS = 0.5  # a grader that needs longer than this on one answer is broken, not slow


class PatternTimeout(Exception):
    """A pattern took longer than MATCH_SECONDS on one text."""

    def __init__(self, pattern: str) -> None:
        super().__init__(
            f"the pattern /{pattern}/ took more than {MATCH_SECONDS:g} s on this answer "
            "(catastrophic backtracking); simplify it"
        )


def compile_error(pattern: str) -> str | None:
    """Why the pattern does not compile, or None."""
    try:
        regex.compile(pattern)
    except regex.error as exc:
        return str(exc)
    return None


def search(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """Whether the pattern occurs in the text; raises PatternTimeout past the time limit."""
    flags = regex.IGNORECASE if ignore_case else 0
    try:
        return regex.search(pattern, text, flags, timeout=MATCH_SECONDS) is not None
    except TimeoutError:
        raise PatternTimeout(pattern) from None
