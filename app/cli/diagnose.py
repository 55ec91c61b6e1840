"""`rung diagnose`, `rung demo` and `rung resume`: the same engine as the service, in-process.

Runs made here belong to the CLI (executor "cli"): a server on the same database lists them but
never executes them, since it may not know their models. Ctrl-C stops a run cleanly; `rung
resume RUN_ID` finishes it without repeating a stored call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from app.bootstrap import Rung, load_catalog, load_settings
from app.cli.driving import drive
from app.cli.output import err_console, print_problems
from app.cli.report import parse_fail_on
from app.cli.suites import INVALID
from app.diagnosis.options import RunOptions
from app.diagnosis.suite import load_suite_file
from app.models.catalog import BUILTIN_READER
from app.service.errors import InvalidRequestError, NotFoundError
from app.service.views import RunView

REPORT_HELP = "Write the run's report: one self-contained HTML file (works offline)"
FAIL_ON_HELP = (
    "Exit 3 when the diagnosis is one of these, comma-separated (no_gap, knowledge, behavior, "
    "mixed, inconclusive), e.g. --fail-on behavior,mixed: a CI gate"
)
DEMO_SUITE = Path("fixtures/demo-suite.yaml")


def _help(field: str) -> str:
    """A flag's help is the option's own description: one text, like one set of limits."""
    return RunOptions.model_fields[field].description or field


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _options(values: dict[str, Any]) -> RunOptions:
    """Validate the flags as RunOptions; a problem is named by its flag, then exit 2."""
    try:
        return RunOptions.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            flag = {"injection": "--fact-position/--fact-format"}.get(field, _flag(field))
            problems.append(f"{flag}: {str(err['msg']).removeprefix('Value error, ')}")
        print_problems("invalid options:", problems)
        raise typer.Exit(INVALID) from None


def _start(suite_path: Path, model: str, options: RunOptions, corpus: Path | None = None) -> Any:
    corpus_bytes = corpus.read_bytes() if corpus is not None else b""

    async def make(rung: Rung) -> RunView:
        from app.service import runs
        from app.service.commands import StartRun
        from app.service.corpora import CorpusFormat, create_corpus

        suite = load_suite_file(suite_path)
        values = options.model_dump()
        if corpus is not None and options.retrieval is not None:
            fmt: CorpusFormat = (
                "jsonl" if corpus.suffix.lower() in (".jsonl", ".ndjson") else "text"
            )
            stored, _ = await create_corpus(rung.store, corpus.name, corpus_bytes, fmt)
            values["retrieval"]["corpus_id"] = stored.id
        command = StartRun(suite=suite, model=model, **values)
        return await runs.start_run(
            rung.store, rung.catalog, command, rung.settings.run_slices, executor="cli"
        )

    return make


def diagnose(
    suite: Annotated[Path, typer.Argument(help="Suite file: .yaml, .json or .jsonl")],
    model: Annotated[str, typer.Option(help="A model_name from the model list, or builtin/...")],
    samples: Annotated[int | None, typer.Option(help=_help("samples"))] = None,
    temperature: Annotated[float | None, typer.Option(help=_help("temperature"))] = None,
    candidate_prompt: Annotated[str | None, typer.Option(help=_help("candidate_prompt"))] = None,
    judge_model: Annotated[str | None, typer.Option(help=_help("judge_model"))] = None,
    max_failure_rate: Annotated[float | None, typer.Option(help=_help("max_failure_rate"))] = None,
    seed: Annotated[int | None, typer.Option(help=_help("seed"))] = None,
    max_tokens: Annotated[int | None, typer.Option(help=_help("max_tokens"))] = None,
    max_concurrency: Annotated[int | None, typer.Option(help=_help("max_concurrency"))] = None,
    max_cost_usd: Annotated[float | None, typer.Option(help=_help("max_cost_usd"))] = None,
    fact_position: Annotated[str, typer.Option(help="before_input or system")] = "before_input",
    fact_format: Annotated[str, typer.Option(help="bullets, numbered or tagged")] = "bullets",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Force fresh calls")] = False,
    retrieval: Annotated[
        bool,
        typer.Option(
            "--retrieval",
            help="Add the retrieved arm: BM25 over every case's facts pooled (or --corpus)",
        ),
    ] = False,
    corpus: Annotated[
        Path | None,
        typer.Option(help="Passages to retrieve from: .jsonl (id, text) or text paragraphs"),
    ] = None,
    retrieval_k: Annotated[int, typer.Option(help="Passages retrieved per case")] = 3,
    models_file: Annotated[
        Path | None, typer.Option(help="The model list [default: RUNG_MODELS_FILE]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the result and evidence as JSON")] = None,
    report: Annotated[Path | None, typer.Option(help=REPORT_HELP)] = None,
    fail_on: Annotated[str | None, typer.Option(help=FAIL_ON_HELP)] = None,
    fail_if_worse: Annotated[
        str | None,
        typer.Option(
            metavar="BASELINE_RUN",
            help="Compare with this run (same cases) and exit 4 when this one is worse "
            "beyond a 5-point margin: a gate on 'not worse than the current model'",
        ),
    ] = None,
) -> None:
    """Run the facts-in-context test on SUITE. Exit codes: 0 done, 1 the run did not succeed,
    2 invalid input, 3 the diagnosis is one --fail-on names, 4 worse than --fail-if-worse's
    baseline, 130 interrupted."""
    gate = parse_fail_on(fail_on)
    options = _options(
        {
            "samples": samples,
            "temperature": temperature,
            "candidate_prompt": candidate_prompt,
            "judge_model": judge_model,
            "max_failure_rate": max_failure_rate,
            "seed": seed,
            "max_tokens": max_tokens,
            "max_concurrency": max_concurrency,
            "max_cost_usd": max_cost_usd,
            "injection": {"position": fact_position, "format": fact_format},
            "cache": not no_cache,
            "retrieval": {"k": retrieval_k} if retrieval or corpus is not None else None,
        }
    )
    drive(models_file, _start(suite, model, options, corpus), out, report, gate, fail_if_worse)


def _demo_model() -> str:
    """The real built-in model when it is installed; else the instant reader."""
    from app.models.local import SMOLLM2, installed_entries

    return SMOLLM2 if any(e.model_name == SMOLLM2 for e in installed_entries()) else BUILTIN_READER


def demo(
    model: Annotated[
        str | None,
        typer.Option(
            help="The model to diagnose [default: builtin/smollm2-135m when installed, "
            "else builtin/reader]"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the JSON result")] = Path(
        "rung-demo-result.json"
    ),
    report: Annotated[Path | None, typer.Option(help=REPORT_HELP)] = None,
) -> None:
    """Diagnose the demo suite on a built-in model: no server, no network, no provider."""
    if not DEMO_SUITE.exists():
        err_console.print(f"{DEMO_SUITE} not found: run this from the rung checkout.", markup=False)
        raise typer.Exit(INVALID)
    load_catalog(load_settings())  # a bad setting is its one line before anything else
    chosen = model or _demo_model()
    if chosen != BUILTIN_READER and model is None:
        err_console.print(
            f"diagnosing the demo suite on {chosen}, a real 135M-parameter model running on "
            "this CPU (about a minute; `--model builtin/reader` is instant)",
            markup=False,
        )
    drive(None, _start(DEMO_SUITE, chosen, RunOptions()), out, report)


def resume(
    run_id: Annotated[str, typer.Argument(help="The id `rung diagnose` printed")],
    models_file: Annotated[
        Path | None, typer.Option(help="The model list [default: RUNG_MODELS_FILE]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the result and evidence as JSON")] = None,
) -> None:
    """Finish a run that `rung diagnose` started and Ctrl-C stopped; stored calls are reused."""

    async def make(rung: Rung) -> RunView:
        from app.service.views import run_view

        run = await rung.store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r} in {rung.settings.database_url}")
        if run.executor != "cli":
            raise InvalidRequestError(
                "run_id", "this run was started through the service; its workers finish it"
            )
        if run.finished:
            err_console.print(f"run {run_id} has already ended ({run.status})", markup=False)
        return run_view(run)

    drive(models_file, make, out)
