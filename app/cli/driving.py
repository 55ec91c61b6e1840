"""Driving one run to its end in this process, for `rung diagnose`, `demo` and `resume`: the
progress while it goes, then the verdict, the files asked for, and the exit code.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from app.bootstrap import Rung, load_catalog, load_settings
from app.cli.compare import check_baseline
from app.cli.output import console, err_console, print_problems, print_verdict, show_progress
from app.cli.report import FailOn, check_gate, save_report
from app.cli.suites import INVALID
from app.diagnosis.suite import SuiteError
from app.service.errors import InvalidRequestError, NotFoundError
from app.service.views import RunView
from app.settings import Settings

FAILED = 1  # the run did not succeed
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class Started:
    """The run id, once known: Ctrl-C can come before or after it."""

    run_id: str | None = None


async def _execute(
    settings: Settings,
    models_file: Path | None,
    started: Started,
    make: Any,
    with_report: bool = False,
) -> tuple[RunView, list[dict[str, Any]], str | None]:
    """Open rung, let `make(rung)` start (or find) the run, drive it to its end here; the
    run's view, its evidence, and its HTML report when asked for."""
    from app.engine.worker import run_to_end
    from app.service import reports, runs

    if models_file is not None:
        settings = settings.model_copy(update={"models_file": str(models_file)})
    rung = await Rung.open(settings, load_catalog(settings))
    try:
        run: RunView = await make(rung)
        started.run_id = run.id
        console.print(f"run {run.id}", markup=False)
        done = asyncio.Event()
        progress = asyncio.create_task(
            show_progress(lambda: runs.get_run(rung.store, run.id), done)
        )
        try:
            await run_to_end(rung, run.id, executor="cli")
        finally:
            done.set()
            await asyncio.gather(progress, return_exceptions=True)
        view = await runs.get_run(rung.store, run.id)
        html = await reports.run_report(rung.store, run.id) if with_report else None
        return view, await _evidence(rung, run.id), html
    finally:
        await rung.close()


async def _evidence(rung: Rung, run_id: str) -> list[dict[str, Any]]:
    from app.service import evidence

    cases: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await evidence.case_page(rung.store, run_id, cursor, 500)
        cases.extend(item.model_dump(mode="json") for item in page.items)
        if page.next_cursor is None:
            return cases
        cursor = page.next_cursor


def drive(
    models_file: Path | None,
    make: Any,
    out: Path | None,
    report: Path | None = None,
    fail_on: FailOn = frozenset(),
    worse_than: str | None = None,
) -> None:
    """Run to the end and report; every way out has its exit code and one line of reason."""
    settings = load_settings()
    started = Started()
    try:
        view, cases, html = asyncio.run(
            _execute(settings, models_file, started, make, with_report=report is not None)
        )
    except KeyboardInterrupt:
        where = f"run {started.run_id} stopped" if started.run_id else "stopped before the run"
        resume = f"; finish it with: rung resume {started.run_id}" if started.run_id else ""
        err_console.print(f"interrupted: {where}{resume}", markup=False)
        raise typer.Exit(INTERRUPTED) from None
    except SuiteError as exc:
        print_problems("the suite is not valid:", exc.errors)
        raise typer.Exit(INVALID) from None
    except (InvalidRequestError, NotFoundError) as exc:
        err_console.print(f"invalid: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    if out is not None:
        result = {**view.model_dump(mode="json"), "cases": cases}
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if view.verdict is not None:
        print_verdict(view.verdict)
    if out is not None:
        console.print(f"Full result with the per-case evidence written to {out}", markup=False)
    if report is not None and html is not None:
        save_report(html, report)
    if view.status != "succeeded":
        err_console.print(f"run {view.status}: {view.error or 'no reason given'}", markup=False)
        raise typer.Exit(FAILED)
    check_gate(view, fail_on)
    if worse_than is not None:
        check_baseline(worse_than, view.id)
