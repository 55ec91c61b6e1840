"""Dependency aliases for what the routers need, and the API-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.bootstrap import Rung
from app.models.catalog import ModelCatalog
from app.pipelines.ssrf import CallbackPolicy
from app.settings import Settings
from app.store import Store

_bearer = HTTPBearer(auto_error=False, description="One of the keys in RUNG_API_KEYS")


def get_rung(request: Request) -> Rung:
    rung: Rung = request.app.state.rung
    return rung


def get_store(request: Request) -> Store:
    return get_rung(request).store


def get_catalog(request: Request) -> ModelCatalog:
    return get_rung(request).catalog


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_callbacks(request: Request) -> CallbackPolicy:
    return get_rung(request).callbacks


def key_matches(given: str, keys: list[str]) -> bool:
    """Constant time per key, and every key is compared, so timing reveals nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    keys = get_settings(request).api_keys
    if not keys:
        return
    if credentials is None or not key_matches(credentials.credentials, keys):
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


StoreDep = Annotated[Store, Depends(get_store)]
CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CallbacksDep = Annotated[CallbackPolicy, Depends(get_callbacks)]
