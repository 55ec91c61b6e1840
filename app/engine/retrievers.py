"""The retrievers a worker process holds: one loaded index per corpus, shared by every run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.diagnosis.options import RetrievalOptions
from app.retrieval.index import Index
from app.store import Store
from app.store.records import Passage


@dataclass(frozen=True)
class Retriever:
    """A run's retriever: a corpus's index and passages, and how many to retrieve."""

    index: Index
    passages: list[Passage]
    k: int

    def search(self, question: str) -> list[Passage]:
        return [self.passages[hit.position] for hit in self.index.search(question, self.k)]


class Retrievers:
    def __init__(self) -> None:
        self._loaded: dict[str, tuple[Index, list[Passage]]] = {}
        self._lock = asyncio.Lock()

    async def get(self, store: Store, options: RetrievalOptions | None) -> Retriever | None:
        """The retriever for a run's retrieval options (None: the run has no retrieved arm).

        A run's corpus id is set when the run is stored (the pooled facts' corpus when none
        was named), so a missing one means the corpus was deleted: the arm is skipped.
        """
        if options is None or options.corpus_id is None:
            return None
        async with self._lock:
            if options.corpus_id not in self._loaded:
                blob, passages = await store.corpus_contents(options.corpus_id)
                if not passages:
                    return None
                self._loaded[options.corpus_id] = (Index.load(blob, len(passages)), passages)
        index, passages = self._loaded[options.corpus_id]
        return Retriever(index, passages, options.k)
