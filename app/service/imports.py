"""Import another tool's eval set: parse it (pure, off the event loop), then store the suite."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from app.importers import Format, ImportOptions, ImportReport, import_text
from app.service import suites
from app.service.views import SuiteView
from app.store import Store


class ImportedSuite(BaseModel):
    suite: SuiteView = Field(description="The stored suite: run it with POST /v1/runs")
    report: ImportReport = Field(description="What was mapped, what was dropped and why")


async def import_suite(
    store: Store, fmt: Format, text: str, options: ImportOptions
) -> tuple[ImportedSuite, bool]:
    """(the suite and the report, whether the suite is new). Raises ImportFailed, located, when
    the file is not what the format says or holds no case rung can run; nothing is stored then."""
    result = await asyncio.to_thread(import_text, fmt, text, options)
    view, created = await suites.add_suite(store, result.suite)
    return ImportedSuite(suite=view, report=result.report), created
