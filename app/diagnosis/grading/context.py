"""What a grader may know about the case besides the answer: the question and the facts.

A literal check needs them to tell an answer from an echo: a model that pastes the injected
facts back, or repeats a question that holds its own answer ("large or small?"), contains the
expected words without having answered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GradingContext:
    """The case's input (the question) and its facts, as the suite states them."""

    question: str = ""
    facts: tuple[str, ...] = ()
