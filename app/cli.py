"""The `rung` command. It calls the same services as the REST routers.

Imports stay light at the top: `rung --help` and `rung validate` never import litellm.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.diagnosis.suite import FactInjection, SuiteError, load_suite_file
from app.settings import Settings

cli = typer.Typer(
    help="rung: which rung of the LLM ladder does your task need? (the facts-in-context test)",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

DEMO_SUITE = Path("fixtures/demo-suite.yaml")


def _settings() -> Settings:
    return Settings()


@cli.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind [default: 0.0.0.0 with API keys, else 127.0.0.1]"),
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Run-engine worker processes", min=1)] = 1,
) -> None:
    """Run the service: the REST API plus worker processes that execute runs."""
    import uvicorn

    from app import worker
    from app.main import create_app

    settings = _settings()
    if host is None:
        # An open API (no keys) stays on loopback unless the operator says otherwise.
        host = "0.0.0.0" if settings.api_keys else "127.0.0.1"  # noqa: S104
    if not settings.api_keys:
        err_console.print(
            "[yellow]warning:[/] RUNG_API_KEYS is not set: the API is open to anyone who can "
            f"reach {host}:{port}."
        )
    spawn = multiprocessing.get_context("spawn")
    procs = [
        spawn.Process(target=worker.main, args=(settings.model_dump(), workers), daemon=False)
        for _ in range(workers)
    ]

    def stop_workers() -> None:
        for proc in procs:
            proc.terminate()  # SIGTERM: a worker releases its slices for the next start
        for proc in procs:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.kill()

    for proc in procs:
        proc.start()
    # The app's shutdown stops the workers: uvicorn re-raises the signal it caught once it
    # has shut down, so code after uvicorn.run() would never run on SIGTERM.
    app = create_app(settings, on_shutdown=stop_workers)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        stop_workers()


def _print_verdict(verdict: dict[str, Any]) -> None:
    table = Table(title="rung verdict", show_header=False)
    table.add_row("diagnosis", f"[bold]{verdict['diagnosis']}[/]")
    table.add_row("next rung", f"[bold]{verdict['next_rung']}[/]")
    counts = verdict["counts"]
    table.add_row("cases", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    for arm, rate in verdict["pass_rates"].items():
        if rate["rate"] is not None:
            table.add_row(
                f"pass rate {arm}",
                f"{100 * rate['rate']:.0f}% (95% CI {100 * rate['low']:.0f}–"
                f"{100 * rate['high']:.0f}%)",
            )
    lift = verdict["lift"]
    if lift["value"] is not None:
        table.add_row(
            "lift from facts",
            f"{100 * lift['value']:+.0f} points (95% CI {100 * lift['low']:+.0f} to "
            f"{100 * lift['high']:+.0f}), mid-p {lift['mid_p']:.3g}",
        )
    usage = verdict.get("usage", {})
    table.add_row(
        "calls",
        f"{usage.get('calls', 0)} ({usage.get('cached_calls', 0)} cached), "
        f"cost {usage.get('cost_usd')}",
    )
    console.print(table)
    console.print(verdict["summary"], markup=False)


async def _diagnose(
    suite_path: Path, model: str, options: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    from app import services
    from app.api.schemas import RunRequest
    from app.llm import ModelCatalog
    from app.runner import Runner
    from app.store.store import Store
    from app.worker import run_to_end

    suite = load_suite_file(suite_path)
    catalog = ModelCatalog.from_file(settings.models_file)
    store = await Store.open(settings.database_url)
    try:
        request = RunRequest.model_validate({"suite": suite, "model": model, **options})
        run = await services.start_run(store, catalog, request, settings.run_slices)
        runner = Runner(store, catalog, settings.default_concurrency, settings.call_timeout_seconds)
        await run_to_end(runner, store, run.id, settings.lease_seconds)
        view = services.run_view(await services.get_run(store, run.id))
        return view.model_dump(mode="json")
    finally:
        await store.close()


def _run_and_report(suite: Path, model: str, options: dict[str, Any], out: Path | None) -> None:
    from app.services import InvalidRequestError

    try:
        result = asyncio.run(_diagnose(suite, model, options, _settings()))
    except SuiteError as exc:
        _print_suite_errors(suite, exc)
        raise typer.Exit(2) from None
    except InvalidRequestError as exc:
        err_console.print(f"[red]invalid:[/] {escape(exc.loc)}: {escape(exc.msg)}")
        raise typer.Exit(2) from None
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if result["verdict"]:
        _print_verdict(result["verdict"])
    if out is not None:
        console.print(f"Full result written to {escape(str(out))}")
    if result["status"] != "succeeded":
        err_console.print(f"[red]run {result['status']}:[/] {escape(str(result['error']))}")
        raise typer.Exit(1)


@cli.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to write the JSON result")] = Path(
        "rung-demo-result.json"
    ),
) -> None:
    """Diagnose the demo suite against builtin/reader: no server, no network, no provider."""
    if not DEMO_SUITE.exists():
        err_console.print(f"[red]{DEMO_SUITE} not found:[/] run this from the rung checkout.")
        raise typer.Exit(2)
    _run_and_report(DEMO_SUITE, "builtin/reader", {}, out)


@cli.command()
def diagnose(
    suite: Annotated[Path, typer.Argument(help="Suite file: .yaml, .json or .jsonl")],
    model: Annotated[str, typer.Option(help="A model_name from RUNG_MODELS_FILE")],
    samples: Annotated[int, typer.Option(min=1, max=20)] = 1,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    candidate_prompt: Annotated[str | None, typer.Option()] = None,
    judge_model: Annotated[str | None, typer.Option()] = None,
    max_failure_rate: Annotated[float, typer.Option()] = 0.05,
    seed: Annotated[int | None, typer.Option()] = None,
    fact_position: Annotated[str, typer.Option(help="before_input or system")] = "before_input",
    fact_format: Annotated[str, typer.Option(help="bullets, numbered or tagged")] = "bullets",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Force fresh calls")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the JSON result here")] = None,
) -> None:
    """Run the facts-in-context test on SUITE; exit code 1 when the run fails."""
    try:
        injection = FactInjection.model_validate({"position": fact_position, "format": fact_format})
    except ValueError as exc:
        err_console.print(f"[red]invalid fact injection:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    options = {
        "samples": samples,
        "temperature": temperature,
        "candidate_prompt": candidate_prompt,
        "judge_model": judge_model,
        "max_failure_rate": max_failure_rate,
        "seed": seed,
        "injection": injection.model_dump(),
        "cache": not no_cache,
    }
    _run_and_report(suite, model, options, out)


def _print_suite_errors(path: Path, exc: SuiteError) -> None:
    err_console.print(f"[red]{escape(str(path))} is not a valid suite:[/]")
    for error in exc.errors:
        err_console.print(f"  {error}", markup=False)


@cli.command()
def validate(
    suite: Annotated[Path, typer.Argument(help="Suite file: .yaml, .json or .jsonl")],
) -> None:
    """Check a suite file and say what is wrong, case by case."""
    try:
        parsed = load_suite_file(suite)
    except SuiteError as exc:
        _print_suite_errors(suite, exc)
        raise typer.Exit(1) from None
    kinds: dict[str, int] = {}
    for case in parsed.cases:
        kinds[case.expected.type] = kinds.get(case.expected.type, 0) + 1
    graders = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    console.print(
        f"{suite}: suite {parsed.name!r}, {len(parsed.cases)} cases ({graders}): valid",
        markup=False,
    )


def main() -> None:
    cli(sys.argv[1:])


if __name__ == "__main__":
    main()
