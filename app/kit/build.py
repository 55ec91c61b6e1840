"""The kit: every file from one run's evidence, and a manifest of what went into each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.kit.corpus import build_corpus
from app.kit.evidence import RunEvidence
from app.kit.finetune import (
    MIN_TRAINING_EXAMPLES,
    adapter_data,
    heldout_suite,
    jsonl,
    labelling_csv,
    warnings_for,
)
from app.kit.lora import SNIPPET, lora_config_json
from app.kit.prompt import draft_prompt
from app.kit.readme import build_readme


@dataclass(frozen=True)
class Kit:
    files: dict[str, str]  # path inside the kit -> UTF-8 text
    manifest: dict[str, Any] = field(default_factory=dict)


def candidate_run(ev: RunEvidence, prompt: str) -> str:
    """A POST /v1/runs body: this run again (suite, model, options), with the candidate."""
    options = ev.options.model_dump(mode="json", exclude_none=True)
    body = {"suite_id": ev.suite_id, "model": ev.model, **options, "candidate_prompt": prompt}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def build_kit(ev: RunEvidence) -> Kit:
    corpus = build_corpus(ev)
    prompt = draft_prompt(ev)
    adapter = adapter_data(ev)
    adapter_warnings = warnings_for(adapter) if adapter.persistent else []
    files: dict[str, str] = {
        "README.md": build_readme(ev, corpus, prompt, adapter, adapter_warnings)
    }
    manifest: dict[str, Any] = {
        "run_id": ev.run_id,
        "suite_id": ev.suite_id,
        "suite_name": ev.suite_name,
        "model": ev.model,
        "status": ev.status,
        "diagnosis": ev.verdict.diagnosis,
        "next_rung": ev.verdict.next_rung,
        "partial": ev.verdict.partial,
        "counts": ev.verdict.counts,
    }
    if corpus is not None:
        files["retrieval/corpus.jsonl"] = corpus.text
        manifest["retrieval"] = {
            "passages": corpus.passages,
            "knowledge_cases": corpus.cases,
            "duplicates_dropped": corpus.duplicates,
        }
    if prompt is not None:
        files["prompt/candidate_prompt.txt"] = prompt.text + "\n"
        files["prompt/candidate-run.json"] = candidate_run(ev, prompt.text)
        manifest["prompt"] = {
            "format_cases": prompt.format_cases,
            "content_cases": prompt.content_cases,
            "examples": prompt.examples,
        }
    if adapter.persistent:
        files["adapter/train.jsonl"] = jsonl(adapter.split("train"))
        files["adapter/heldout.jsonl"] = jsonl(adapter.split("heldout"))
        files["adapter/to-label.csv"] = labelling_csv(adapter.labelling)
        files["adapter/lora_config.json"] = lora_config_json()
        files["adapter/lora_config.py"] = SNIPPET
        suite = heldout_suite(ev, adapter)
        if suite is not None:
            files["adapter/heldout-suite.json"] = suite
        manifest["adapter"] = {
            **adapter.counts(),
            "min_training_examples": MIN_TRAINING_EXAMPLES,
            "train_cases": [e.case_id for e in adapter.split("train")],
            "heldout_cases": [e.case_id for e in adapter.split("heldout")],
            "to_label_cases": [row["case_id"] for row in adapter.labelling],
            "excluded_cases": adapter.excluded,
            "target_sources": {e.case_id: e.source for e in adapter.examples if e.source},
        }
    manifest["warnings"] = adapter_warnings
    manifest["files"] = sorted([*files, "kit.json"])
    files["kit.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return Kit(files=files, manifest=manifest)
