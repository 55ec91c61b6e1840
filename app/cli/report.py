"""`rung report RUN_ID`: a run's self-contained HTML report, from the database; and the CI gate
on a verdict that `rung diagnose --fail-on` applies.

Exit codes, as for every command: 0 done, 1 the run did not succeed, 2 invalid input,
3 the diagnosis is one that --fail-on names, 130 interrupted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, get_args

import typer

from app.bootstrap import Rung, load_settings
from app.cli.output import console, err_console, print_problems
from app.cli.suites import INVALID
from app.diagnosis.verdict import Diagnosis
from app.service.errors import NotFoundError
from app.service.views import RunView

GATED = 3  # the run succeeded, and its diagnosis is one the caller refuses
DIAGNOSES: tuple[str, ...] = get_args(Diagnosis)
FailOn = frozenset[str]


def parse_fail_on(value: str | None) -> FailOn:
    """`behavior,mixed` -> {"behavior", "mixed"}; an unknown name exits 2 before any run."""
    if value is None:
        return frozenset()
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in DIAGNOSES]
    if unknown or not names:
        problem = f"unknown diagnosis {', '.join(map(repr, unknown))}" if unknown else "empty"
        print_problems(
            "invalid options:", [f"--fail-on: {problem}; name some of {', '.join(DIAGNOSES)}"]
        )
        raise typer.Exit(INVALID)
    return frozenset(names)


def check_gate(view: RunView, fail_on: FailOn) -> None:
    """Exit 3 when the finished run's diagnosis is one `fail_on` names."""
    if view.verdict is None or view.verdict.diagnosis not in fail_on:
        return
    refused = ",".join(sorted(fail_on))
    err_console.print(
        f"gate: the diagnosis is {view.verdict.diagnosis}, which --fail-on {refused} refuses "
        f"(exit {GATED})",
        markup=False,
    )
    raise typer.Exit(GATED)


def save_report(html: str, path: Path) -> None:
    path.write_text(html, encoding="utf-8")
    size = len(html.encode("utf-8"))
    console.print(f"Report written to {path} ({size / 1024:,.0f} KB)", markup=False)


async def _render(run_id: str) -> str:
    from app.service import reports

    rung = await Rung.open(load_settings())
    try:
        return await reports.run_report(rung.store, run_id)
    finally:
        await rung.close()


def report(
    run_id: Annotated[str, typer.Argument(help="The run's id (rung diagnose prints it first)")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write it [default: rung-report-<id>.html]")
    ] = None,
) -> None:
    """Write a run's report, one self-contained HTML file that renders offline, from the
    database (RUNG_DATABASE_URL). Exit code 2 when there is no such run."""
    try:
        html = asyncio.run(_render(run_id))
    except NotFoundError as exc:
        err_console.print(f"invalid: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    save_report(html, out or Path(f"rung-report-{run_id[:12]}.html"))
