"""/healthz (liveness, open) and /v1/models (what runs may name, behind the API key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import text

from app.api.deps import CatalogDep, StoreDep
from app.api.schemas import ModelInfo, ModelList

router = APIRouter(tags=["health"])
models = APIRouter(tags=["models"])


@router.get("/healthz")
async def healthz(store: StoreDep) -> dict[str, Any]:
    """Up or down: the service answers and its database is reachable. Nothing else is told
    here, since anyone may ask (the model list is GET /v1/models, behind the API key)."""
    try:
        async with store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database is not usable
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from None
    return {"status": "ok"}


@models.get("/v1/models", response_model=ModelList)
async def list_models(catalog: CatalogDep) -> ModelList:
    """The models a run may name: the operator's list and the built-in ones."""
    return ModelList(items=[ModelInfo(**entry.public()) for entry in catalog.entries()])
