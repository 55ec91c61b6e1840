"""The retrieval corpus: the knowledge cases' facts, one passage per JSON line.

Each line is `{"id", "text", "source_case"}`, the shape a corpus upload takes, so the file goes
as it is into rung's retrieval arm or into the team's own index. A fact shared by several
knowledge cases is one passage (the first case that has it is its source): duplicates would
only crowd the top-k. Lines are ASCII JSON (other characters escaped), so no line reader
can split a passage at a Unicode line separator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from app.kit.evidence import RunEvidence


@dataclass(frozen=True)
class Corpus:
    text: str  # the JSONL file
    passages: int
    cases: list[str] = field(default_factory=list)  # the knowledge cases it was built from
    duplicates: int = 0  # facts left out because an earlier case had the same text


def passage_id(case_id: str, index: int) -> str:
    return f"{case_id}#{index + 1}"


def build_corpus(evidence: RunEvidence) -> Corpus | None:
    """The knowledge cases' facts as passages; None when no case was labelled knowledge."""
    cases = evidence.labelled("knowledge")
    if not cases:
        return None
    seen: set[str] = set()
    lines: list[str] = []
    duplicates = 0
    for item in cases:
        for index, fact in enumerate(item.case.facts):
            key = " ".join(fact.split())
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            passage = {
                "id": passage_id(item.case.id, index),
                "text": fact,
                "source_case": item.case.id,
            }
            lines.append(json.dumps(passage))  # ASCII: no reader splits a line inside
    return Corpus(
        text="\n".join(lines) + "\n",
        passages=len(lines),
        cases=[c.case.id for c in cases],
        duplicates=duplicates,
    )
