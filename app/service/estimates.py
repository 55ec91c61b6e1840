"""Pricing a run before it starts: planned calls, tokens and cost, and the lift it can detect."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.diagnosis.plan import Estimator, RunEstimate
from app.diagnosis.suite import Case
from app.models.catalog import ModelCatalog
from app.models.pricing import token_prices
from app.service.commands import EstimateRun, StartRun
from app.service.runs import check_models, inline_cases, stored_suite
from app.store import Store


async def estimate_run(
    store: Store, catalog: ModelCatalog, command: StartRun | EstimateRun
) -> RunEstimate:
    """What a run would cost before anything is spent: calls, tokens and USD (None if unknown),
    and what lift it can detect."""
    if command.suite is not None:
        return await estimate_cases(
            catalog, command, command.suite.system_prompt, inline_cases(command.suite)
        )
    suite = await stored_suite(store, command.suite_id)
    return await estimate_cases(catalog, command, suite.system_prompt, store.iter_cases(suite.id))


async def estimate_cases(
    catalog: ModelCatalog,
    command: StartRun | EstimateRun,
    system_prompt: str,
    cases: AsyncIterator[tuple[int, Case]],
) -> RunEstimate:
    """The estimate over these cases (the CLI's estimate needs no database)."""
    options = command.options()
    check_models(catalog, command.model, options)
    prices = token_prices(catalog.resolve(command.model).provider_model)
    target = command.target_lift if isinstance(command, EstimateRun) else None
    estimator = Estimator(system_prompt, options, prices, target)
    async for _, case in cases:
        estimator.add(case)
    return estimator.result()
