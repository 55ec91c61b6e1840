"""Corpora: passages with their BM25 index, stored once per content."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.store.database import Database, absent_key
from app.store.records import CorpusRecord, Passage
from app.store.tables import CorpusRow, PassageRow, utcnow


def corpus_hash(name: str, passages: Sequence[Passage]) -> str:
    body = [name, [[p.id, p.text, p.source_case] for p in passages]]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


def corpus_record(row: CorpusRow) -> CorpusRecord:
    return CorpusRecord(
        id=row.id, name=row.name, passage_count=row.passage_count, created_at=row.created_at
    )


class CorpusQueries(Database):
    async def find_corpus(self, digest: str) -> CorpusRecord | None:
        async with self.sessions() as session:
            row = await session.scalar(select(CorpusRow).where(CorpusRow.content_hash == digest))
            return corpus_record(row) if row is not None else None

    async def add_corpus(
        self, name: str, passages: Sequence[Passage], index_blob: bytes, digest: str
    ) -> tuple[CorpusRecord, bool]:
        """Store a corpus with its index: (corpus, whether new); the same content is stored once."""
        row = CorpusRow(
            id=uuid.uuid4().hex,
            name=name,
            passage_count=len(passages),
            content_hash=digest,
            index_blob=index_blob,
            created_at=utcnow(),
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
                await session.flush()
                session.add_all(
                    PassageRow(
                        corpus_id=row.id,
                        position=i,
                        passage_id=p.id,
                        text=p.text,
                        source_case=p.source_case,
                    )
                    for i, p in enumerate(passages)
                )
        except IntegrityError:
            found = await self.find_corpus(digest)
            if found is None:
                raise
            return found, False
        return corpus_record(row), True

    async def get_corpus(self, corpus_id: str) -> CorpusRecord | None:
        if absent_key(corpus_id):
            return None
        async with self.sessions() as session:
            row = await session.get(CorpusRow, corpus_id)
            return corpus_record(row) if row is not None else None

    async def corpus_contents(self, corpus_id: str) -> tuple[bytes, list[Passage]]:
        """The index and every passage in order (what a retrieved arm loads once per slice)."""
        async with self.sessions() as session:
            blob = await session.scalar(
                select(CorpusRow.index_blob).where(CorpusRow.id == corpus_id)
            )
            rows = await session.scalars(
                select(PassageRow)
                .where(PassageRow.corpus_id == corpus_id)
                .order_by(PassageRow.position)
            )
            passages = [Passage(r.passage_id, r.text, r.source_case) for r in rows]
        return blob or b"", passages
