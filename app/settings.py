"""Configuration from the environment (prefix RUNG_)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.pipelines.signing import parse_secrets


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected value may be a secret; it must not reach the log.
    model_config = SettingsConfigDict(env_prefix="RUNG_", extra="ignore", hide_input_in_errors=True)

    database_url: str = "sqlite+aiosqlite:///./rung.db"
    models_file: str | None = None
    # Comma-separated. When set, every /v1 route except webhooks needs `Authorization: Bearer`.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    default_concurrency: int = Field(default=8, ge=1, le=256)
    call_timeout_seconds: float = Field(default=60.0, gt=0)
    # A worker holds a run under a lease it renews; a stalled run is taken over when it lapses.
    lease_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=0.5, gt=0)
    # A run is split into this many slices, so several worker processes share a big run.
    run_slices: int = Field(default=4, ge=1, le=64)
    slices_per_worker: int = Field(default=8, ge=1)
    # Worker processes `rung serve` starts; unset: one per CPU.
    workers: int | None = Field(default=None, ge=1)
    # CPU threads of a built-in local model (read where it loads, app/models/local.py); unset:
    # one fewer than the cores.
    local_threads: int | None = Field(default=None, ge=1, le=256)
    public_url: str = "http://127.0.0.1:8000"

    # --- model-review pipelines: signed webhooks in, signed callbacks out -------------------
    # whsec_ secret(s) for inbound webhooks and outbound callbacks; several (space-separated)
    # while rotating. Unset: the webhook route answers 503 and runs cannot take a callback_url.
    webhook_secret: SecretStr | None = None
    webhook_max_body_bytes: int = 1024 * 1024
    # Comma-separated hosts callbacks may reach even at internal addresses (on-premise).
    callback_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Seconds to wait after each failed attempt (jittered); after the last one it is dead.
    callback_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
    )
    callback_timeout_seconds: float = 10.0

    @field_validator("api_keys", "callback_allow_hosts", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("callback_allow_hosts")
    @classmethod
    def _normalise_hosts(cls, value: list[str]) -> list[str]:
        return [host.lower().rstrip(".").strip("[]") for host in value]

    @field_validator("callback_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            parse_secrets(value.get_secret_value())  # raises with a message that omits it
            return value
        return None
