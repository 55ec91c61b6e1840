"""A BM25 index over a corpus's passages (bm25s), built once, stored as bytes, searched often.

bm25s is a maintained, numpy-only BM25 (Lù, 2024); its own save/load format is a directory of
numpy arrays and JSON, kept here as one zip so the store holds it in a single column.
Tokens are lower-cased words with English stop words removed and a light suffix stemmer, so
"refunds" finds "refund"; a passage that shares no token with the question is not retrieved.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUFFIXES = ("ing", "ies", "ed", "es", "s")


class EmptyCorpusError(ValueError):
    """Nothing in the passages can be indexed."""


def stem(word: str) -> str:
    """A light English suffix stemmer: enough for "refunds"/"refund", "shipped"/"ship"."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


class _Stemmer:
    """The interface bm25s takes a stemmer by (PyStemmer's): one word, or many."""

    stemWord = staticmethod(stem)

    @staticmethod
    def stemWords(words: Sequence[str]) -> list[str]:
        return [stem(word) for word in words]


def _tokens(texts: Sequence[str]) -> Any:
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_Stemmer(), return_ids=False, show_progress=False
    )


def build_index(passages: Sequence[str]) -> bytes:
    """The BM25 index of the passages, as the bytes `Index.load` reads back."""
    import bm25s

    tokens = _tokens(passages)
    if not any(tokens):
        raise EmptyCorpusError("no passage has a word to search by (stop words are not indexed)")
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    with tempfile.TemporaryDirectory() as folder:
        retriever.save(folder, show_progress=False)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(folder).iterdir()):
                archive.write(path, path.name)
    return buffer.getvalue()


@dataclass(frozen=True)
class Hit:
    position: int  # the passage's position in its corpus
    score: float


class Index:
    """A loaded index; `search` gives the best passages for a question."""

    def __init__(self, retriever: Any, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def load(cls, blob: bytes, size: int) -> Index:
        import bm25s

        with tempfile.TemporaryDirectory() as folder:
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                archive.extractall(folder)
            retriever = bm25s.BM25.load(folder, show_progress=False)
        return cls(retriever, size)

    def search(self, question: str, k: int) -> list[Hit]:
        """Up to k passages by BM25 score; none that share no token with the question."""
        k = min(k, self.size)
        if k == 0:
            return []
        positions, scores = self._retriever.retrieve(_tokens([question]), k=k, show_progress=False)
        return [
            Hit(int(position), float(score))
            for position, score in zip(positions[0], scores[0], strict=True)
            if score > 0
        ]
