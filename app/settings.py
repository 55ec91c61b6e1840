"""Configuration from the environment (prefix RUNG_)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNG_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./rung.db"
    models_file: str | None = None
    # Comma-separated. When set, every /v1 route except webhooks needs `Authorization: Bearer`.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 10 * 1024 * 1024
    default_concurrency: int = 8
    max_concurrency: int = 256
    call_timeout_seconds: float = 60.0
    # A worker holds a run under a lease it renews; a stalled run is taken over when it lapses.
    lease_seconds: float = 30.0
    poll_seconds: float = 0.5
    runs_per_worker: int = 4
    public_url: str = "http://127.0.0.1:8000"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value
