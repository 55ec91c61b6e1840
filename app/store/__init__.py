"""The store: SQLAlchemy tables and queries (SQLite by default, PostgreSQL for deployments).

Everything above this package talks to `Store` and gets records back (app/store/records.py);
no ORM row leaves it.
"""

from __future__ import annotations

from app.store.calls import CallQueries
from app.store.comparisons import ComparisonQueries
from app.store.corpora import CorpusQueries
from app.store.outbox import OutboxQueries
from app.store.runs import RunQueries
from app.store.slices import SliceQueries
from app.store.suites import SuiteQueries


class Store(
    SuiteQueries,
    RunQueries,
    CallQueries,
    SliceQueries,
    OutboxQueries,
    ComparisonQueries,
    CorpusQueries,
):
    """One handle on the database, with every query the layers above need."""


__all__ = ["Store"]
