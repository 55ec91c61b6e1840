"""`rung estimate`: what a run would cost and what lift it could prove, before spending."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from app.bootstrap import load_catalog, load_settings
from app.cli.output import console, err_console, money, print_problems
from app.cli.suites import INVALID
from app.diagnosis.options import RunOptions
from app.diagnosis.plan import RunEstimate
from app.diagnosis.suite import SuiteError, load_suite_file
from app.service.errors import InvalidRequestError


def _help(field: str) -> str:
    return RunOptions.model_fields[field].description or field


def estimate(
    suite: Annotated[Path, typer.Argument(help="Suite file: .yaml, .json or .jsonl")],
    model: Annotated[str, typer.Option(help="A model_name from the model list, or builtin/...")],
    samples: Annotated[int, typer.Option(help=_help("samples"))] = 1,
    temperature: Annotated[float, typer.Option(help=_help("temperature"))] = 0.0,
    target_lift: Annotated[
        float | None,
        typer.Option(help="A lift (0-1) to plan for: how many cases or samples would detect it"),
    ] = None,
    candidate_prompt: Annotated[str | None, typer.Option(help=_help("candidate_prompt"))] = None,
    max_tokens: Annotated[int | None, typer.Option(help=_help("max_tokens"))] = None,
    models_file: Annotated[
        Path | None, typer.Option(help="The model list [default: RUNG_MODELS_FILE]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON")] = False,
) -> None:
    """Price a run of SUITE and say what lift it can detect: nothing is called or stored."""
    from app.service.commands import EstimateRun
    from app.service.estimates import estimate_cases
    from app.service.runs import inline_cases

    settings = load_settings()
    if models_file is not None:
        settings = settings.model_copy(update={"models_file": str(models_file)})
    try:
        parsed = load_suite_file(suite)
        command = EstimateRun(
            suite=parsed,
            model=model,
            samples=samples,
            temperature=temperature,
            target_lift=target_lift,
            candidate_prompt=candidate_prompt,
            max_tokens=max_tokens,
        )
        result = asyncio.run(
            estimate_cases(
                load_catalog(settings), command, parsed.system_prompt, inline_cases(parsed)
            )
        )
    except SuiteError as exc:
        print_problems(f"{suite} is not a valid suite:", exc.errors)
        raise typer.Exit(INVALID) from None
    except ValidationError as exc:
        print_problems(
            "invalid options:",
            [f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()],
        )
        raise typer.Exit(INVALID) from None
    except InvalidRequestError as exc:
        err_console.print(f"invalid: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    _print(result)


def _print(result: RunEstimate) -> None:
    console.print(
        f"{result.cases} cases: at most {result.calls_planned} calls on the two main arms "
        f"({result.calls_max} with every prompt-fix call), {result.prompt_tokens} prompt and "
        f"{result.completion_tokens} completion tokens, cost {money(result.cost_usd)}",
        markup=False,
    )
    console.print(result.power.summary, markup=False)
