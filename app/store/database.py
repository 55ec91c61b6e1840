"""The handle every query module shares: an engine and its session factory."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.db import create_schema, make_engine, make_sessions


def absent_key(value: str) -> bool:
    """A key that can't be stored: PostgreSQL text holds no NUL, so no row has such an id."""
    return "\x00" in value


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = make_sessions(engine)

    @classmethod
    async def open(cls, url: str) -> Self:
        """Connect and bring the schema to the newest revision."""
        database = cls(make_engine(url))
        await create_schema(database.engine)
        return database

    async def close(self) -> None:
        await self.engine.dispose()
