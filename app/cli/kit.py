"""`rung kit RUN_ID --out DIR`: the next-rung kit of a finished run, written as files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from app.bootstrap import Rung, load_catalog, load_settings
from app.cli.output import console, err_console
from app.cli.suites import INVALID
from app.kit import Kit
from app.service.errors import ConflictError, NotFoundError


async def _kit(run_id: str) -> Kit:
    from app.service.kits import run_kit

    settings = load_settings()
    rung = await Rung.open(settings, load_catalog(settings))
    try:
        return await run_kit(rung.store, run_id)
    finally:
        await rung.close()


def write_kit(kit: Kit, out: Path) -> list[tuple[Path, int]]:
    """Write every file of the kit under `out` (kit paths are fixed names, never user text)."""
    written = []
    for name, text in kit.files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        written.append((path, len(data)))
    return written


def kit(
    run_id: Annotated[str, typer.Argument(help="A finished run (see rung diagnose, GET /v1/runs)")],
    out: Annotated[
        Path | None, typer.Option(help="Directory to write the kit into [default: rung-kit-RUN_ID]")
    ] = None,
) -> None:
    """Write the next-rung kit of a finished run: a retrieval corpus, a candidate prompt,
    fine-tuning data with a held-out split and a LoRA config, and a README on what to do first."""
    try:
        built = asyncio.run(_kit(run_id))
    except (NotFoundError, ConflictError) as exc:
        err_console.print(f"cannot build the kit: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    target = out if out is not None else Path(f"rung-kit-{run_id}")
    try:
        written = write_kit(built, target)
    except OSError as exc:
        err_console.print(f"cannot write the kit to {target}: {exc}", markup=False)
        raise typer.Exit(INVALID) from None
    for path, size in written:
        console.print(f"{size:>8}  {path}", markup=False)
    for warning in built.manifest.get("warnings", []):
        err_console.print(f"warning: {warning}", markup=False)
    console.print(f"next: read {target / 'README.md'}", markup=False)
