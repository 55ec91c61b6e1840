"""Supervised fine-tuning data for the behavior cases that persist, in OpenAI's chat format.

Persistent cases: the `behavior` cases (they fail even with the facts), and when the run tried a
candidate prompt, only those it did not fix. Cases whose facts do not contain the expected
answer are left out: training on them would teach the model to answer past its facts.

Each example is `{"messages": [system?, user, assistant]}`: the suite's system prompt, the user
message exactly as the run sent it with the facts (same position and format), and the target.
The target is the grader's literal answer when it gives one, else an answer of the run that the
grader passed; cases with neither go to a labelling file. The train/held-out split is by a hash
of the case id, so a case keeps its side as the suite grows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from app.diagnosis.suite import build_messages
from app.kit.evidence import CaseEvidence, RunEvidence
from app.kit.targets import judge_reference, literal_target, why_no_target

HELD_OUT_FRACTION = 0.2
# OpenAI's fine-tuning guide: 10 examples at the very least, and improvements usually start
# at 50-100 well-made ones. Below this, the kit warns that an adapter is premature.
MIN_TRAINING_EXAMPLES = 50
LABEL_COLUMNS = ("case_id", "split", "system", "user", "grader", "why", "suggestion", "target")

Split = Literal["train", "heldout"]


def split_of(case_id: str) -> Split:
    """Held out when sha256(case id) as a fraction of 2**64 (first 8 bytes) is below 0.2."""
    digest = hashlib.sha256(case_id.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") / 2**64 < HELD_OUT_FRACTION else "train"


@dataclass(frozen=True)
class Example:
    case_id: str
    split: Split
    messages: list[dict[str, str]]  # system (if any) and user: what the run sent
    target: str | None
    source: Literal["grader", "run_answer"] | None


@dataclass
class AdapterData:
    persistent: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # facts that do not hold the answer
    examples: list[Example] = field(default_factory=list)
    labelling: list[dict[str, str]] = field(default_factory=list)

    def split(self, split: Split, labelled: bool = True) -> list[Example]:
        return [e for e in self.examples if e.split == split and (e.target is not None) == labelled]

    def counts(self) -> dict[str, int]:
        return {
            "persistent_cases": len(self.persistent),
            "excluded_facts_missing_answer": len(self.excluded),
            "train": len(self.split("train")),
            "heldout": len(self.split("heldout")),
            "to_label": len(self.labelling),
        }


def persistent_cases(ev: RunEvidence) -> list[CaseEvidence]:
    behavior = ev.labelled("behavior")
    if ev.options.candidate_prompt:
        return [c for c in behavior if c.prompt_fix_passed is not True]
    return behavior


def _target(item: CaseEvidence) -> tuple[str | None, Literal["grader", "run_answer"] | None]:
    literal = literal_target(item.case.expected)
    if literal is not None:
        return literal, "grader"
    for sample in item.passing_answers():
        return sample.answer, "run_answer"
    return None, None


def adapter_data(ev: RunEvidence) -> AdapterData:
    data = AdapterData()
    for item in persistent_cases(ev):
        data.persistent.append(item.case.id)
        if item.facts_cover_answer is False:
            data.excluded.append(item.case.id)
            continue
        messages = build_messages(ev.system_prompt, item.case, "open_book", ev.options.injection)
        target, source = _target(item)
        example = Example(item.case.id, split_of(item.case.id), messages, target, source)
        data.examples.append(example)
        if target is None:
            data.labelling.append(_label_row(example, item))
    return data


def chat_line(example: Example) -> str:
    messages: list[dict[str, Any]] = [*example.messages]
    messages.append({"role": "assistant", "content": example.target or ""})
    return json.dumps({"messages": messages})  # ASCII JSON: one example, one line


def jsonl(examples: list[Example]) -> str:
    return "".join(chat_line(e) + "\n" for e in examples)


def _label_row(example: Example, item: CaseEvidence) -> dict[str, str]:
    by_role = {m["role"]: m["content"] for m in example.messages}
    spec = item.case.expected
    return {
        "case_id": example.case_id,
        "split": example.split,
        "system": by_role.get("system", ""),
        "user": by_role.get("user", ""),
        "grader": json.dumps(spec.model_dump(mode="json", by_alias=True), ensure_ascii=False),
        "why": why_no_target(spec),
        "suggestion": judge_reference(spec) or "",
        "target": "",
    }


def labelling_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LABEL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def heldout_suite(ev: RunEvidence, data: AdapterData) -> str | None:
    """The held-out cases as a rung suite: diagnose the tuned model on what it never saw."""
    held = {e.case_id for e in data.examples if e.split == "heldout"}
    cases = [c.case for c in ev.cases if c.case.id in held]
    if not cases:
        return None
    suite = {
        "name": f"{ev.suite_name} (held out)"[:200],
        "description": f"The held-out behavior cases of run {ev.run_id}, for the tuned model.",
        "system_prompt": ev.system_prompt,
        "cases": [c.model_dump(mode="json", by_alias=True) for c in cases],
    }
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


def warnings_for(data: AdapterData) -> list[str]:
    train = len(data.split("train"))
    out = []
    if train < MIN_TRAINING_EXAMPLES:
        out.append(
            f"Only {train} training example(s) with a target (adapter/train.jsonl; the train "
            f"split of the persistent behavior cases). An adapter needs about "
            f"{MIN_TRAINING_EXAMPLES} or more (OpenAI's guide: 10 at the very least, "
            "improvements usually from 50-100): label the cases in adapter/to-label.csv and "
            "add more cases of the failing kind before training."
        )
    if data.examples and not data.split("heldout") and not data.split("heldout", False):
        out.append(
            "No case fell in the held-out split (20% by hash of the case id): there is nothing "
            "to check the adapter on that it was not trained on; add cases."
        )
    return out
