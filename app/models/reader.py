"""`builtin/reader`: a small extractive reader, the offline model the demo runs on.

What it is: it finds the facts it was given (list items, or lines of a `<facts>` block) and
answers with the one whose words best match the question, verbatim.
What it is not: it knows nothing on its own (closed-book it says "I don't know."), it never
rephrases, and it has no formatting skills (ask for JSON and you get a plain sentence).
That makes it an honest, predictable subject for the facts-in-context test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from app.models.base import CallResult, Completion, ModelLimits

DONT_KNOW = "I don't know."

_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$")
_FACTS_BLOCK = re.compile(r"<facts>(.*?)</facts>", re.DOTALL | re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "not",
        "no",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "into",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "you",
        "your",
        "we",
        "our",
        "i",
        "me",
        "my",
        "he",
        "she",
        "his",
        "her",
        "us",
        "if",
        "so",
        "such",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
        "about",
        "please",
        "answer",
        "question",
        "return",
        "give",
        "tell",
        "reply",
        "respond",
        "using",
        "use",
        "only",
        "just",
        "one",
        "object",
        "key",
        "value",
        "field",
        "json",
    ]
)


def _content_words(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    # Crude stemming so "refunds" matches "refund"; enough for an extractive toy.
    return {w.rstrip("s") if len(w) > 3 else w for w in words if w not in _STOPWORDS}


def extract_facts(messages: Sequence[Mapping[str, str]]) -> tuple[list[str], str]:
    """Split the conversation into the facts it carries and the question it asks."""
    facts: list[str] = []
    question_lines: list[str] = []
    for message in messages:
        content = str(message.get("content") or "")
        for block in _FACTS_BLOCK.findall(content):
            facts.extend(line.strip() for line in block.splitlines() if line.strip())
        rest = _FACTS_BLOCK.sub("", content)
        for line in rest.splitlines():
            item = _LIST_ITEM.match(line)
            if item:
                facts.append(item.group(1))
            elif message.get("role") == "user":
                question_lines.append(line)
    return facts, "\n".join(question_lines)


def read(messages: Sequence[Mapping[str, str]]) -> str:
    """Answer with the best-matching fact, or admit ignorance."""
    facts, question = extract_facts(messages)
    wanted = _content_words(question)
    best, best_score = None, 0
    for fact in facts:
        score = len(wanted & _content_words(fact))
        if score > best_score:
            best, best_score = fact, score
    return best if best is not None else DONT_KNOW


class ReaderModel:
    """`builtin/reader` behind the model seam, in-process: no provider, no litellm, instant."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider_model(self) -> str:
        return self._name

    @property
    def limits(self) -> ModelLimits:
        return ModelLimits()

    def identity(self) -> dict[str, Any]:
        return {"model": self._name}

    async def complete(self, call: Completion) -> CallResult:
        started = time.perf_counter()
        answer = read(call.messages)
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in call.messages)
        return CallResult(
            text=answer,
            prompt_tokens=prompt_words,
            completion_tokens=len(answer.split()),
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
