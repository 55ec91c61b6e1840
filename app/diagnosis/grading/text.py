"""Reading answers as text: whole-word matches, word spans, and numbers with their units.

Everything here works on text already passed through `normalise`, so positions in the answer,
the question and the facts are comparable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A sign only where no digit precedes it: "10-12 days" is a range, not 10 and -12.
NUMBER = re.compile(
    r"(?<![\d.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|(?<!\d)[-+]?\.\d+"
)
_WORD = re.compile(r"[^\W_]+")
# The unit a number is stated in: "$75", "45 days", "7-year", "99.95%", "8am", "10 business days".
# Up to four words: enough for "requests per minute"; the expected unit decides how many count.
_UNIT_AFTER = re.compile(r"[ -]?(%|[^\W\d_]+(?: [^\W\d_]+){0,3})")
_ORDINAL = {"st", "nd", "rd", "th"}
_CURRENCY = {"$", "€", "£"}
# Words that follow a number without being its unit: "16 for everyone", "45 and more".
_NOT_UNITS = frozenset(
    re.findall(
        r"\w+",
        "a an the and or but for of to in on at by with from as is are was were be if so then "
        "than that this it its which who nor not",
    )
)
_PLURAL = ("s", "es")
_JOINED = re.compile(r"\s*(?:or|to|and|-|–)\s*")


@dataclass(frozen=True)
class Span:
    start: int
    end: int

    def inside(self, other: Span) -> bool:
        return other.start <= self.start and self.end <= other.end


def words(text: str) -> list[tuple[str, Span]]:
    """The words and numbers of a text, each with where it is, compared case-insensitively."""
    return [(m.group(0).casefold(), Span(m.start(), m.end())) for m in _WORD.finditer(text)]


def _glued_before(text: str, i: int, first: str) -> bool:
    if i == 0 or not first.isalnum():
        return False
    before = text[i - 1]
    if before.isalnum():
        return True
    # "1.5" or "15,000": the value "5" or "000" would be the tail of another number.
    return first.isdigit() and before in ".," and i >= 2 and text[i - 2].isdigit()


def _glued_after(text: str, j: int, last: str) -> int | None:
    """Where a match ending at j really ends, or None when it runs into another word/number.

    A word may take a plural ending ("45 day" matches "45 days"); a number never continues.
    """
    if j == len(text) or not last.isalnum():
        return j
    if last.isdigit():
        after = text[j : j + 2]
        if after[:1].isalnum() or (after[:1] in ".," and after[1:2].isdigit()):
            return None
        return j
    for suffix in ("", *_PLURAL):
        end = j + len(suffix)
        if text[j:end] == suffix and (end == len(text) or not text[end].isalnum()):
            return end
    return None


def occurrences(value: str, text: str) -> list[Span]:
    """Where `value` occurs in `text` as whole words and whole numbers.

    "23" does not occur in "2023", "5,000" not in "15,000", "no" not in "not" or "know".
    """
    found: list[Span] = []
    if not value:
        return found
    start = text.find(value)
    while start != -1:
        end = _glued_after(text, start + len(value), value[-1])
        if end is not None and not _glued_before(text, start, value[0]):
            found.append(Span(start, end))
        start = text.find(value, start + 1)
    return found


@dataclass(frozen=True)
class Quantity:
    """A number as stated: its value, its unit ("" for a bare number), and where the number is
    (with its currency sign)."""

    number: float
    unit: str
    span: Span


def _unit(text: str, match: re.Match[str]) -> str:
    before = text[max(0, match.start() - 1) : match.start()]
    if before in _CURRENCY:
        return before
    tail = _UNIT_AFTER.match(text, match.end())
    if not tail:
        return ""
    unit = tail.group(1)
    if unit.split(" ")[0].casefold() in _NOT_UNITS:
        return ""  # "16 for everyone", "45 and more": the number stands alone
    if unit.split(" ")[0] in _ORDINAL and text[match.end() : match.end() + 1] not in {" ", "-"}:
        return "th"  # "1st", "22nd": ordinals are one kind
    return unit


def _same_word(a: str, b: str) -> bool:
    """Words compare with or without a plural ending: "day" is "days", "box" is "boxes"."""
    short, long_ = sorted((a, b), key=len)
    return long_ in {short, *(short + suffix for suffix in _PLURAL)}


def quantities(text: str) -> list[Quantity]:
    """Every number in the text with the unit it is stated in ("$75", "45 days", "3 users").

    A bare number joined to the next by "or", "to", "and" or a dash shares its unit: "30 or 45
    days", "10-12 days", "5,000 or 10,000 points".
    """
    out: list[Quantity] = []
    for match in NUMBER.finditer(text):
        try:
            number = float(match.group(0).replace(",", ""))
        except ValueError:
            continue
        unit = _unit(text, match)
        start = match.start() - (unit in _CURRENCY)
        out.append(Quantity(number, unit.casefold(), Span(start, match.end())))
    for i in range(len(out) - 2, -1, -1):
        here, after = out[i], out[i + 1]
        if not here.unit and _JOINED.fullmatch(text, here.span.end, after.span.start):
            out[i] = Quantity(here.number, after.unit, here.span)
    return out


def same_unit(expected: str, stated: str) -> bool:
    """Whether a stated unit is the expected one: "day" is "days"; "days" is not "business days".

    The answer's unit may run on ("days of delivery" for "days"): only as many words as the
    expected unit has are compared.
    """
    if not expected or not stated:
        return False
    want, got = expected.split(" "), stated.split(" ")
    return len(got) >= len(want) and all(map(_same_word, want, got[: len(want)]))


_QUANTITY = re.compile(
    r"(?P<cur>[$€£])?(?P<num>" + NUMBER.pattern + r")(?:[ -]?(?P<unit>%|[^\W\d_]+(?: [^\W\d_]+)*))?"
)


def as_quantity(value: str) -> Quantity | None:
    """The value as one quantity ("45 days", "$75", "7-year", "5,000", "99.95%"), or None when
    it is something else ("8am to 6pm", "K1", "Duluth")."""
    match = _QUANTITY.fullmatch(value)
    if not match or (match.group("cur") and match.group("unit")):
        return None
    try:
        number = float(match.group("num").replace(",", ""))
    except ValueError:
        return None
    unit = match.group("cur") or match.group("unit") or ""
    if unit in _ORDINAL:
        unit = "th"
    return Quantity(number, unit.casefold(), Span(0, len(value)))


def quantity_occurrences(value: Quantity, text: str) -> list[Quantity]:
    """Where the answer states this quantity, however it writes it: "7-year" is "7 years",
    "5,000" is "5000", "$75" is "$75.00". A bare expected number matches in any unit, and a
    number the answer states bare ("The answer is: 16") matches in the expected unit: the
    question named it. Another unit is another quantity ("16 days" is not "16 weeks")."""
    return [
        q
        for q in quantities(text)
        if math.isclose(q.number, value.number, rel_tol=1e-9, abs_tol=1e-12)
        and (not value.unit or not q.unit or same_unit(value.unit, q.unit))
    ]
