"""What an import takes (its options) and what it says (its report)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["promptfoo", "inspect", "openai-evals", "ragas", "deepeval", "csv"]
MatchMode = Literal["contains", "exact", "judge"]


class ImportOptions(BaseModel):
    """How to read the file. Each format takes only the options that mean something for it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, description="The suite's name")
    match: MatchMode | None = Field(
        default=None,
        description="How an expected answer is graded: contains (default for Inspect, OpenAI "
        "evals and CSV), exact, or judge (default for Ragas and DeepEval, whose references "
        "are sentences)",
    )
    facts_field: str | None = Field(
        default=None, description="Inspect / OpenAI evals: the metadata field holding the facts"
    )
    facts_sep: str | None = Field(
        default=None, description="Split a facts text into several facts on this separator"
    )
    use_retrieved: bool = Field(
        default=False,
        description="Ragas / DeepEval: use the retrieved contexts as facts when a record has "
        "no gold contexts (they are what your retriever returned, not gold)",
    )
    input_col: str | None = Field(default=None, description="CSV: the input column")
    facts_col: list[str] = Field(default_factory=list, description="CSV: the facts column(s)")
    expected_col: str | None = Field(default=None, description="CSV: the expected-answer column")
    id_col: str | None = Field(default=None, description="CSV: the case-id column")
    facts_var: str | None = Field(
        default=None, description="promptfoo: the var holding the facts (default: context)"
    )
    prompt: str | None = Field(
        default=None, description="promptfoo: a {{var}} template to render each test's input"
    )
    tests_format: Literal["csv", "jsonl"] | None = Field(
        default=None,
        description="promptfoo: the file is a tests file in this format, not a config "
        "(a JSON or YAML list of tests is recognised without it)",
    )


class ImportNote(BaseModel):
    loc: str = Field(description="Where in the file: tests[3].assert[0], line 7, a field name")
    msg: str


class FieldMapping(BaseModel):
    source: str = Field(description="The field as the other tool names it")
    target: str = Field(description="The rung field it became")
    cases: int


class IgnoredField(BaseModel):
    field: str
    records: int = Field(description="How many records had it")
    reason: str


class ImportReport(BaseModel):
    format: Format
    read: int = Field(default=0, description="Records (tests, samples, rows) read from the file")
    imported: int = Field(default=0, description="Cases in the suite")
    mapped: list[FieldMapping] = Field(default_factory=list)
    dropped_cases: list[ImportNote] = Field(
        default_factory=list, description="Records that did not become cases, and why"
    )
    dropped: list[ImportNote] = Field(
        default_factory=list, description="Parts of imported cases left out (an assertion...)"
    )
    ignored_fields: list[IgnoredField] = Field(default_factory=list)
    warnings: list[ImportNote] = Field(default_factory=list)
