"""The `rung` command. It calls the same services as the REST routers.

Imports stay light at the top: `rung --help` and `rung validate` never import litellm.
Exit codes: 0 done, 1 the run did not succeed, 2 invalid input or configuration, 3 the
diagnosis is one `diagnose --fail-on` refuses (a CI gate), 130 stopped by Ctrl-C (the run can
be resumed).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app import __version__
from app.bootstrap import ConfigError
from app.cli import compare, diagnose, estimate, imports, kit, report, serve, suites
from app.cli.output import err_console

cli = typer.Typer(
    help="rung: which rung of the LLM ladder does your task need? (the facts-in-context test)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain: "[default: ...]" must not be eaten as Rich markup.
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        print(f"rung {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit", callback=_show_version),
    ] = False,
) -> None:
    """rung: which rung of the LLM ladder does your task need? (the facts-in-context test)"""


cli.command()(serve.serve)
cli.command()(diagnose.demo)
cli.command()(diagnose.diagnose)
cli.command()(diagnose.resume)
cli.command()(report.report)
cli.command()(suites.validate)
cli.command()(compare.compare)
cli.command("import")(imports.import_)
cli.command()(kit.kit)
cli.command()(estimate.estimate)


def main() -> None:
    try:
        cli(sys.argv[1:])
    except ConfigError as exc:
        err_console.print(f"rung: invalid configuration: {exc}", markup=False, highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
