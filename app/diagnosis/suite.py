"""Suites, cases, and how facts are injected into the messages of each arm."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app.diagnosis.grading import Grader

Arm = Literal["closed_book", "open_book", "prompt_fix", "open_book_control", "retrieved"]
ARMS: tuple[Arm, ...] = (
    "closed_book",
    "open_book",
    "prompt_fix",
    "open_book_control",
    "retrieved",
)

_GRADER_TYPES = {"exact", "contains", "regex", "json_schema", "numeric", "judge", "all", "any"}


def _bare_string_means_contains(value: Any) -> Any:
    """`expected: "Paris"` is shorthand for `{type: contains, values: ["Paris"]}`."""
    if isinstance(value, str):
        return {"type": "contains", "values": [value]}
    return value


def _id_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, BeforeValidator(_id_as_text)] = Field(min_length=1, max_length=200)
    input: str = Field(min_length=1)
    facts: list[str] = Field(min_length=1)
    expected: Annotated[Grader, BeforeValidator(_bare_string_means_contains)]
    tags: list[str] = Field(default_factory=list)

    @field_validator("facts")
    @classmethod
    def _facts_have_text(cls, facts: list[str]) -> list[str]:
        if any(not f.strip() for f in facts):
            raise ValueError("facts must not contain empty strings")
        return facts


def first_nul(value: Any, loc: str = "") -> str | None:
    """Where the first NUL character (U+0000) is in parsed JSON, or None.

    No text column can hold it on PostgreSQL, and no eval needs it, so it is refused at the
    edge with its location instead of failing deep in the database.
    """
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{loc}.{key}" if loc else str(key)
            if "\x00" in str(key):
                return where
            found = first_nul(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = first_nul(item, f"{loc}[{index}]")
            if found is not None:
                return found
    return None


NUL_MESSAGE = "must not contain the NUL character (\\u0000)"


class Suite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": []},
    )

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    system_prompt: str = ""
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = first_nul(data)
        if where is not None:
            raise SuiteError([FieldError(where, NUL_MESSAGE)])
        return data

    @model_validator(mode="after")
    def _unique_case_ids(self) -> Suite:
        seen: dict[str, int] = {}
        for index, case in enumerate(self.cases):
            if case.id in seen:
                raise SuiteError(
                    [
                        FieldError(
                            f"cases[{index}].id",
                            f"duplicate case id {case.id!r} (first used by cases[{seen[case.id]}])",
                        )
                    ]
                )
            seen[case.id] = index
        return self


class FieldError:
    """One problem in a suite, located the way a user reads the file: `cases[3].expected`."""

    def __init__(self, loc: str, msg: str) -> None:
        self.loc = loc
        self.msg = msg

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "msg": self.msg}

    def __str__(self) -> str:
        return f"{self.loc}: {self.msg}" if self.loc else self.msg


class LocatedError(ValueError):
    """Problems with their locations; raised inside a validator, they keep them (see
    `located_errors`), nested under the location of the field that raised."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class SuiteError(LocatedError):
    """A suite that cannot be used, with every problem located."""


def format_loc(loc: Iterable[int | str], prefix: str = "") -> str:
    """('cases', 3, 'expected', 'contains', 'values') -> 'cases[3].expected.values'.

    Pydantic puts the discriminator tag in the location; users never wrote it, so drop it.
    """
    out = prefix
    parts = list(loc)
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_union_tag(parts, i) or part.startswith(("function-", "tagged-union")):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _is_union_tag(parts: list[int | str], i: int) -> bool:
    """A grader type name right where pydantic inserts the tag: after `expected` or `checks[n]`."""
    if parts[i] not in _GRADER_TYPES or i == 0:
        return False
    before = parts[i - 1]
    return before == "expected" or (isinstance(before, int) and i >= 2 and parts[i - 2] == "checks")


def located_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[FieldError]:
    """Pydantic's errors, located as the user wrote them.

    A LocatedError raised inside a validator (a duplicate case id) arrives wrapped; it keeps
    its own locations, under the location where it was raised.
    """
    out: list[FieldError] = []
    for err in errors:
        where = format_loc(err["loc"], prefix)
        nested = (err.get("ctx") or {}).get("error")
        if isinstance(nested, LocatedError):
            out.extend(
                FieldError(f"{where}.{e.loc}" if where else e.loc, e.msg) for e in nested.errors
            )
        else:
            out.append(FieldError(where, str(err["msg"]).removeprefix("Value error, ")))
    return out


def errors_from_validation(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    return located_errors(exc.errors(), prefix)


def validate_suite(data: Any) -> Suite:
    """Validate parsed suite data; every problem is reported with its location."""
    if not isinstance(data, dict):
        raise SuiteError([FieldError("", "a suite must be an object with name and cases")])
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(errors_from_validation(exc)) from None


SuiteFormat = Literal["yaml", "json", "jsonl"]


def format_for_path(path: Path) -> SuiteFormat:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        return "json"
    return "yaml"


def parse_suite_text(text: str, fmt: SuiteFormat, default_name: str = "suite") -> Suite:
    """Parse a suite file's text. JSONL holds cases only, one per line."""
    if fmt == "jsonl":
        cases: list[Any] = []
        # Split on newlines only: JSON strings may hold U+2028 and friends unescaped.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                cases.append(json.loads(line))
            except ValueError as exc:
                raise SuiteError([FieldError(f"line {number}", f"not valid JSON: {exc}")]) from None
        return validate_suite({"name": default_name, "cases": cases})
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if fmt == "json" else "YAML"
        raise SuiteError([FieldError("", f"not valid {kind}: {exc}")]) from None
    if isinstance(data, dict) and "name" not in data:
        data = {"name": default_name, **data}
    return validate_suite(data)


def load_suite_file(path: Path) -> Suite:
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError([FieldError("", f"cannot read {path}: {exc}")]) from None
    return parse_suite_text(text, format_for_path(path), default_name=path.stem)


class FactInjection(BaseModel):
    """Where and how facts go into the prompt. Recorded with each run: both change results."""

    model_config = ConfigDict(extra="forbid")

    position: Literal["before_input", "system"] = "before_input"
    format: Literal["bullets", "numbered", "tagged"] = "bullets"


def render_facts(facts: Sequence[str], style: FactInjection) -> str:
    if style.format == "tagged":
        return "<facts>\n" + "\n".join(facts) + "\n</facts>"
    if style.format == "numbered":
        lines = [f"{i}. {fact}" for i, fact in enumerate(facts, start=1)]
    else:
        lines = [f"- {fact}" for fact in facts]
    return "Relevant facts:\n" + "\n".join(lines)


def build_messages(
    system_prompt: str,
    case: Case,
    arm: Arm,
    style: FactInjection,
    candidate_prompt: str | None = None,
    passages: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """The messages one arm sends for one case.

    closed_book: the system prompt and the input. open_book: the case's facts injected as
    `style` says. prompt_fix: the candidate system prompt with the facts. open_book_control: a
    fresh open_book. retrieved: the retrieved `passages` in place of the facts (none retrieved:
    nothing injected, as a retriever that finds nothing would leave it).
    """
    system = candidate_prompt if arm == "prompt_fix" and candidate_prompt else system_prompt
    user = case.input
    facts = list(passages or []) if arm == "retrieved" else case.facts
    if arm != "closed_book" and facts:
        block = render_facts(facts, style)
        if style.position == "system":
            system = f"{system}\n\n{block}" if system else block
        else:
            user = f"{block}\n\n{user}"
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return messages
