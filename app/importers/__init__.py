"""Importers: another tool's eval set as a rung suite, with a report of what was mapped, what was
dropped and why. Pure: text in, `ImportResult` out; files a config names arrive as attachments.
"""

from __future__ import annotations

from typing import get_args

from app.importers import (
    columns,
    deepeval,
    inspect_ai,
    openai_evals,
    promptfoo,
    promptfoo_tests,
    ragas,
)
from app.importers.common import Attachments, ImportFailed, ImportResult, fail
from app.importers.models import Format, ImportOptions, ImportReport
from app.importers.records import check_text

FORMATS: tuple[Format, ...] = get_args(Format)

# The options each format reads; `name` is read by all.
_OPTIONS: dict[Format, frozenset[str]] = {
    "promptfoo": frozenset({"facts_var", "facts_sep", "prompt", "tests_format"}),
    "inspect": frozenset({"facts_field", "facts_sep", "match"}),
    "openai-evals": frozenset({"facts_field", "facts_sep", "match"}),
    "ragas": frozenset({"use_retrieved", "match"}),
    "deepeval": frozenset({"use_retrieved", "match", "facts_sep"}),
    "csv": frozenset({"input_col", "facts_col", "expected_col", "id_col", "facts_sep", "match"}),
}


def import_text(
    fmt: Format,
    text: str,
    options: ImportOptions | None = None,
    name: str | None = None,
    attachments: Attachments | None = None,
) -> ImportResult:
    """Import one file's text. Raises ImportFailed, every problem located, when nothing can be
    imported or the file is not what the format says."""
    options = options or ImportOptions()
    check_options(fmt, options)
    text = text.removeprefix("\ufeff")
    check_text(text)
    suite_name = options.name or name or f"imported-{fmt}"
    if fmt == "promptfoo":
        return promptfoo.parse(text, options, suite_name, attachments or Attachments())
    parse = {
        "inspect": inspect_ai.parse,
        "openai-evals": openai_evals.parse,
        "ragas": ragas.parse,
        "deepeval": deepeval.parse,
        "csv": columns.parse,
    }[fmt]
    return parse(text, options, suite_name)


def check_options(fmt: Format, options: ImportOptions) -> None:
    """An option the format does not read is a mistake worth naming, not something to ignore."""
    for option in sorted(options.model_fields_set - {"name"}):
        if option not in _OPTIONS[fmt]:
            takers = [f for f, names in _OPTIONS.items() if option in names]
            fail(option, f"does not apply to format {fmt} (only to {', '.join(takers)})")


def references(fmt: Format, text: str, options: ImportOptions | None = None) -> list[str]:
    """The file:// references the file names (promptfoo only), for a caller that can read them."""
    if fmt != "promptfoo":
        return []
    text = text.removeprefix("\ufeff")
    check_text(text)
    return promptfoo_tests.references(text, options or ImportOptions())


__all__ = [
    "FORMATS",
    "Attachments",
    "Format",
    "ImportFailed",
    "ImportOptions",
    "ImportReport",
    "ImportResult",
    "import_text",
    "references",
]
