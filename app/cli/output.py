"""What the CLI prints: the verdict table, live progress, and located problems."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.diagnosis.suite import FieldError
from app.diagnosis.usage import RunVerdict
from app.service.views import RunView

console = Console(highlight=False)
# Messages go out as one line each, however narrow the terminal: scripts grep them.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def money(value: float | None) -> str:
    return "unknown (no price for this model)" if value is None else f"${value:.4f}"


def print_verdict(verdict: RunVerdict) -> None:
    table = Table(title="rung verdict", show_header=False)
    table.add_row("diagnosis", f"[bold]{verdict.diagnosis}[/]")
    table.add_row("next rung", f"[bold]{verdict.next_rung or 'none yet (inconclusive)'}[/]")
    counts = ", ".join(f"{k} {v}" for k, v in verdict.counts.items() if v and k != "total")
    table.add_row("cases", f"{counts or 'none'} (total {verdict.counts.get('total', 0)})")
    for arm, rate in verdict.pass_rates.items():
        if rate.rate is not None:
            table.add_row(
                f"pass rate {arm}",
                f"{pct(rate.rate)} (95% CI {pct(rate.low)}–{pct(rate.high)})",
            )
    lift = verdict.lift
    if lift.value is not None:
        clustered = lift.method == "clustered" and lift.p_value is not None
        test = (
            f"clustered by case, p {lift.p_value:.3g}" if clustered else f"mid-p {lift.mid_p:.3g}"
        )
        table.add_row(
            "lift from facts",
            f"{100 * lift.value:+.0f} points (95% CI {100 * lift.low:+.0f} to "
            f"{100 * lift.high:+.0f}), {test}",
        )
    if verdict.retrieval is not None:
        retrieval = verdict.retrieval
        retrieved = retrieval.pass_rates["retrieved"]
        table.add_row(
            f"pass rate retrieved (top {retrieval.k})",
            f"{pct(retrieved.rate)} (95% CI {pct(retrieved.low)}–{pct(retrieved.high)}); "
            f"recall@{retrieval.k} {pct(retrieval.recall_at_k)}",
        )
    usage = verdict.usage
    table.add_row(
        "calls", f"{usage.calls} ({usage.cached_calls} cached), cost {money(usage.cost_usd)}"
    )
    console.print(table)
    console.print(verdict.summary, markup=False)


def print_problems(title: str, problems: Iterable[FieldError | str]) -> None:
    err_console.print(f"[red]{escape(title)}[/]")
    for problem in problems:
        err_console.print(f"  {problem}", markup=False)


Reader = Callable[[], Awaitable[RunView]]


async def show_progress(read: Reader, done: asyncio.Event) -> None:
    """Calls done/planned, cached, failed, elapsed and ETA while a run goes: a bar on a
    terminal, a plain line every few seconds otherwise (logs, CI)."""
    if sys.stderr.isatty():
        await _bar(read, done)
    else:
        await _lines(read, done)


async def _bar(read: Reader, done: asyncio.Event) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed}/{task.total} calls · {task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("diagnosing", total=None, detail="")
        while True:
            view = await read()
            p = view.progress
            detail = f"{p.calls_cached} cached, {p.calls_failed} failed"
            bar.update(task, completed=p.calls_done, total=p.calls_planned, detail=detail)
            if done.is_set():
                return
            await _sleep_or(done, 0.2)


async def _lines(read: Reader, done: asyncio.Event, every: float = 5.0) -> None:
    started = time.monotonic()
    last = None
    while not done.is_set():
        await _sleep_or(done, every)
        view = await read()
        p = view.progress
        line = (
            f"{p.calls_done}/{p.calls_planned} calls ({p.calls_cached} cached, "
            f"{p.calls_failed} failed), {time.monotonic() - started:.0f}s"
        )
        if line != last and not done.is_set():
            err_console.print(line, markup=False)
            last = line


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return
