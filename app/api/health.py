from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import text

from app.api.deps import CatalogDep, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(store: StoreDep, catalog: CatalogDep) -> dict[str, Any]:
    """Liveness and database reachability; lists model names (never endpoints or keys)."""
    try:
        async with store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database is not usable
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from None
    return {"status": "ok", "models": catalog.names}
