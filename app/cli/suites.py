"""`rung validate`: check a suite file and say what is wrong, case by case."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.output import console, print_problems
from app.diagnosis.suite import SuiteError, load_suite_file

INVALID = 2  # the exit code for invalid input, the same for every command


def validate(
    suite: Annotated[Path, typer.Argument(help="Suite file: .yaml, .json or .jsonl")],
) -> None:
    """Check a suite file and say what is wrong, case by case (exit code 2 when invalid)."""
    try:
        parsed = load_suite_file(suite)
    except SuiteError as exc:
        print_problems(f"{suite} is not a valid suite:", exc.errors)
        raise typer.Exit(INVALID) from None
    kinds: dict[str, int] = {}
    for case in parsed.cases:
        kinds[case.expected.type] = kinds.get(case.expected.type, 0) + 1
    graders = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    console.print(
        f"{suite}: suite {parsed.name!r}, {len(parsed.cases)} cases ({graders}): valid",
        markup=False,
    )
