"""`rung compare BASELINE_RUN CANDIDATE_RUN`: pair two runs on the same cases."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from app.bootstrap import Rung, load_catalog, load_settings
from app.cli.output import console, err_console, pct
from app.cli.report import save_report
from app.cli.suites import INVALID
from app.service.comparisons import DEFAULT_MARGIN, CompareRuns, ComparisonView
from app.service.errors import ConflictError, InvalidRequestError

WORSE = 4  # with --fail-if-worse: the candidate is worse than the baseline beyond the margin


async def _compare(command: CompareRuns, with_report: bool = False) -> tuple[ComparisonView, str]:
    """The comparison, and its HTML report when asked for."""
    from app.service import reports
    from app.service.comparisons import compare_runs

    settings = load_settings()
    rung = await Rung.open(settings, load_catalog(settings))
    try:
        view = await compare_runs(rung.store, rung.catalog, command)
        html = await reports.comparison_report(rung.store, view.id) if with_report else ""
        return view, html
    finally:
        await rung.close()


def print_comparison(view: ComparisonView) -> None:
    table = Table(title=f"{view.candidate.model} vs {view.baseline.model}")
    for column in ("arm", "n", "fixed", "regressed", "baseline", "candidate", "difference (95% CI)",
                   "decision"):  # fmt: skip
        table.add_column(column)
    for arm in view.arms.values():
        if arm.difference is None:
            continue
        table.add_row(
            arm.arm,
            str(arm.n),
            str(arm.fixed),
            str(arm.regressed),
            pct(arm.baseline_rate),
            pct(arm.candidate_rate),
            f"{100 * arm.difference:+.0f} ({100 * arm.low:+.0f} to {100 * arm.high:+.0f})",
            arm.decision,
        )
    console.print(table)
    console.print(f"decision: {view.decision} (comparison {view.id})", markup=False)
    console.print(view.summary, markup=False)


def check_baseline(baseline_run: str, run_id: str) -> None:
    """`rung diagnose --fail-if-worse`: compare the new run with the baseline; exit 4 if worse."""
    try:
        view, _ = asyncio.run(
            _compare(CompareRuns(baseline_run_id=baseline_run, candidate_run_id=run_id))
        )
    except (InvalidRequestError, ConflictError) as exc:
        err_console.print(f"cannot compare with {baseline_run}: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    print_comparison(view)
    if view.decision == "worse":
        err_console.print(
            f"gate: worse than {baseline_run} beyond the {100 * view.margin:.0f}-point margin "
            f"(exit {WORSE})",
            markup=False,
        )
        raise typer.Exit(WORSE)


def compare(
    baseline_run: Annotated[str, typer.Argument(help="The run to compare against")],
    candidate_run: Annotated[str, typer.Argument(help="The new model, prompt or version")],
    margin: Annotated[
        float, typer.Option(help="Differences within ±margin are equivalent (0.05 = 5 points)")
    ] = DEFAULT_MARGIN,
    fail_if_worse: Annotated[
        bool, typer.Option("--fail-if-worse", help=f"Exit {WORSE} when the candidate is worse")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write the comparison as JSON")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write the comparison's report: one self-contained HTML file"),
    ] = None,
) -> None:
    """Compare two runs on the same cases: fixed and regressed cases per arm, the paired
    difference with its interval, a decision against the margin, and the distillation check."""
    try:
        command = CompareRuns(
            baseline_run_id=baseline_run, candidate_run_id=candidate_run, margin=margin
        )
        view, html = asyncio.run(_compare(command, with_report=report is not None))
    except ValidationError as exc:
        err_console.print(f"invalid: {exc.errors()[0]['msg']}", markup=False)
        raise typer.Exit(INVALID) from None
    except (InvalidRequestError, ConflictError) as exc:
        err_console.print(f"cannot compare: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    if out is not None:
        out.write_text(json.dumps(view.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    print_comparison(view)
    if report is not None:
        save_report(html, report)
    if fail_if_worse and view.decision == "worse":
        raise typer.Exit(WORSE)
