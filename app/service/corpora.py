"""What a user can do with corpora: store passages for the retrieved arm, and read them back.

A corpus arrives as JSONL (one passage per line: `{"id", "text", "source_case"?}`, the shape the
next-rung kit writes) or as plain text (passages separated by blank lines). Its BM25 index is
built once, when it is stored. With no corpus named, a run's retrieved arm searches its suite's
facts, every case's pooled: each question must find its own facts among all the others'.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from app.diagnosis.options import RetrievalOptions
from app.retrieval.index import EmptyCorpusError, build_index
from app.service.errors import InvalidRequestError, NotFoundError
from app.store import Store
from app.store.corpora import corpus_hash
from app.store.records import CorpusRecord, Passage, SuiteRecord

CorpusFormat = Literal["jsonl", "text"]
MAX_PASSAGES = 100_000


class CorpusView(BaseModel):
    id: str
    name: str
    passage_count: int
    created_at: datetime


def corpus_view(record: CorpusRecord) -> CorpusView:
    return CorpusView(
        id=record.id,
        name=record.name,
        passage_count=record.passage_count,
        created_at=record.created_at,
    )


def _jsonl(text: str) -> list[Passage]:
    passages: list[Passage] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise InvalidRequestError(f"line {number}", "not valid JSON") from None
        body = item if isinstance(item, dict) else {}
        passage_text = body.get("text")
        if not isinstance(passage_text, str) or not passage_text.strip():
            raise InvalidRequestError(f"line {number}.text", "each line needs a non-empty text")
        source = body.get("source_case")
        passages.append(
            Passage(
                id=str(body.get("id") or f"p{len(passages) + 1}")[:200],
                text=passage_text.strip(),
                source_case=str(source)[:200] if source is not None else None,
            )
        )
    return passages


def parse_passages(text: str, fmt: CorpusFormat) -> list[Passage]:
    if "\x00" in text:
        raise InvalidRequestError("body", "must not contain the NUL character (\\u0000)")
    if fmt == "jsonl":
        passages = _jsonl(text)
    else:
        blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
        passages = [Passage(id=f"p{i + 1}", text=b) for i, b in enumerate(x for x in blocks if x)]
    if not passages:
        raise InvalidRequestError("body", "no passage found")
    if len(passages) > MAX_PASSAGES:
        raise InvalidRequestError("body", f"{len(passages)} passages; at most {MAX_PASSAGES}")
    return passages


async def store_corpus(store: Store, name: str, passages: list[Passage]) -> tuple[CorpusView, bool]:
    """Store passages with their BM25 index: (corpus, whether new). The same content is stored
    once; the index is built in a thread, off the event loop."""
    digest = corpus_hash(name, passages)
    found = await store.find_corpus(digest)
    if found is not None:
        return corpus_view(found), False
    try:
        blob = await asyncio.to_thread(build_index, [p.text for p in passages])
    except EmptyCorpusError as exc:
        raise InvalidRequestError("body", str(exc)) from None
    record, created = await store.add_corpus(name, passages, blob, digest)
    return corpus_view(record), created


async def create_corpus(
    store: Store, name: str, body: bytes, fmt: CorpusFormat
) -> tuple[CorpusView, bool]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequestError("body", "the corpus is not UTF-8 text") from None
    return await store_corpus(store, name, parse_passages(text, fmt))


async def get_corpus(store: Store, corpus_id: str) -> CorpusView:
    record = await store.get_corpus(corpus_id)
    if record is None:
        raise NotFoundError(f"no corpus with id {corpus_id!r}")
    return corpus_view(record)


async def pooled_facts(store: Store, suite: SuiteRecord) -> CorpusView:
    """The default corpus: every case's facts, each distinct fact once, with its first case."""
    seen: set[str] = set()
    passages = []
    async for _, case in store.iter_cases(suite.id):
        for number, fact in enumerate(case.facts, start=1):
            if fact not in seen:
                seen.add(fact)
                passages.append(Passage(f"{case.id}#{number}", fact, case.id))
    view, _ = await store_corpus(store, f"{suite.name}: every case's facts", passages)
    return view


async def resolve_retrieval(
    store: Store, options: RetrievalOptions | None, suite: SuiteRecord
) -> RetrievalOptions | None:
    """The options with their corpus named: a run records exactly what it searched."""
    if options is None:
        return None
    if options.corpus_id is None:
        try:
            pooled = await pooled_facts(store, suite)
        except InvalidRequestError:
            raise InvalidRequestError(
                "retrieval", "no fact of the suite has a word to search by"
            ) from None
        return options.model_copy(update={"corpus_id": pooled.id})
    if await store.get_corpus(options.corpus_id) is None:
        raise InvalidRequestError("retrieval.corpus_id", f"no corpus with id {options.corpus_id!r}")
    return options
