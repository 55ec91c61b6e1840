"""The next-rung kit, built from real runs (the real runner and store, in-process) and validated
file by file: the corpus, the fine-tuning JSONL against the chat format's schema, the labelling
CSV, the split, the LoraConfig against PEFT's field names, the candidate prompt and the README.

Over HTTP and the CLI: tests/test_kit_api.py.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.diagnosis.grading import grade
from app.diagnosis.suite import Case, validate_suite
from app.kit import Kit
from app.kit.targets import literal_target
from app.service import runs
from app.service.commands import StartRun
from app.service.errors import ConflictError, NotFoundError
from app.service.kits import run_kit
from tests.conftest import ROOT, Engine
from tests.fakeprovider import Body, FakeProvider, facts_responder

DEMO = yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8"))
CHAT_SCHEMA = json.loads(
    (ROOT / "tests" / "schemas" / "openai-chat-finetune.schema.json").read_text(encoding="utf-8")
)

# PEFT's own names, read from its source (src/peft/tuners/lora/config.py: LoraConfig;
# src/peft/config.py: PeftConfig and PeftConfigMixin; src/peft/utils/peft_types.py: TaskType).
PEFT_LORA_FIELDS = {
    "r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout", "fan_in_fan_out",
    "bias", "use_rslora", "modules_to_save", "init_lora_weights", "layers_to_transform",
    "layers_pattern", "rank_pattern", "alpha_pattern", "megatron_config", "megatron_core",
    "loftq_config", "use_dora", "layer_replication", "runtime_config",
    "base_model_name_or_path", "revision", "peft_type", "task_type", "inference_mode",
    "auto_mapping",
}  # fmt: skip
PEFT_TASK_TYPES = {
    "SEQ_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"
}  # fmt: skip
PEFT_BIAS = {"none", "all", "lora_only"}


def jsonl_lines(text: str) -> list[dict[str, Any]]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n") if line]


def assert_chat_lines(text: str) -> list[dict[str, Any]]:
    """Every line parses on its own and is a valid chat fine-tuning example."""
    validator = jsonschema.Draft202012Validator(CHAT_SCHEMA)
    lines = jsonl_lines(text)
    for number, line in enumerate(lines, 1):
        errors = [e.message for e in validator.iter_errors(line)]
        assert not errors, f"line {number}: {errors}"
    return lines


def expected_split(case_id: str) -> str:
    fraction = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big") / 2**64
    return "heldout" if fraction < 0.2 else "train"


async def kit_of(engine: Engine, suite: dict[str, Any], model: str, **options: Any) -> Any:
    run = await engine.diagnose(suite, model=model, **options)
    assert run.status == "succeeded", run.error
    return run, await run_kit(engine.store, run.id)


# --- the demo suite on builtin/reader: mixed, 12 knowledge and 12 behavior (JSON) cases -----------


@pytest.fixture
async def demo_kit(engine: Engine) -> tuple[Any, Kit]:
    result: tuple[Any, Kit] = await kit_of(engine, DEMO, "builtin/reader")
    return result


async def test_demo_kit_corpus_holds_every_knowledge_fact(demo_kit: tuple[Any, Kit]) -> None:
    run, kit = demo_kit
    assert (run.verdict["diagnosis"], run.verdict["next_rung"]) == (
        "mixed",
        "retrieval_and_prompt_fix",
    )
    passages = jsonl_lines(kit.files["retrieval/corpus.jsonl"])
    assert all(set(p) == {"id", "text", "source_case"} for p in passages)
    assert all(isinstance(v, str) and v for p in passages for v in p.values())
    assert len({p["id"] for p in passages}) == len(passages) == 36
    knowledge = {c["id"]: c for c in DEMO["cases"] if not c["id"].startswith("json-")}
    got = {(p["source_case"], p["text"]) for p in passages}
    assert got == {(cid, fact) for cid, c in knowledge.items() for fact in c["facts"]}
    assert kit.manifest["retrieval"]["passages"] == 36


async def test_demo_kit_finetuning_data_validates_and_splits(demo_kit: tuple[Any, Kit]) -> None:
    _, kit = demo_kit
    train = assert_chat_lines(kit.files["adapter/train.jsonl"])
    heldout = assert_chat_lines(kit.files["adapter/heldout.jsonl"])
    cases = {c["id"]: Case.model_validate(c) for c in DEMO["cases"]}
    behavior = [cid for cid in cases if cid.startswith("json-")]
    adapter = kit.manifest["adapter"]
    assert adapter["train_cases"] == [c for c in behavior if expected_split(c) == "train"]
    assert adapter["heldout_cases"] == ["json-deposit"]
    assert (len(train), len(heldout), adapter["to_label"]) == (11, 1, 0)
    for case_id, line in zip(
        adapter["train_cases"] + adapter["heldout_cases"], train + heldout, strict=True
    ):
        case = cases[case_id]
        system, user, assistant = line["messages"]
        assert system["content"] == DEMO["system_prompt"]
        assert user["content"].startswith("Relevant facts:\n- ") and case.input in user["content"]
        assert all(f"- {fact}" in user["content"] for fact in case.facts)
        # The target is the object the schema pins, and the case's own grader passes it.
        pinned = {k: v["const"] for k, v in case.expected.json_schema["properties"].items()}
        assert json.loads(assistant["content"]) == pinned
        assert grade(case.expected, assistant["content"]).passed
    labelling = list(csv.DictReader(io.StringIO(kit.files["adapter/to-label.csv"])))
    assert labelling == []
    assert kit.files["adapter/to-label.csv"].startswith("case_id,split,system,user,grader,")
    suite = validate_suite(json.loads(kit.files["adapter/heldout-suite.json"]))
    assert [c.id for c in suite.cases] == ["json-deposit"]
    assert suite.cases[0] == cases["json-deposit"]
    warning = kit.manifest["warnings"][0]
    assert "Only 11 training example(s)" in warning and "about 50" in warning


async def test_demo_kit_lora_config_uses_peft_names(
    demo_kit: tuple[Any, Kit], tmp_path: Path
) -> None:
    _, kit = demo_kit
    config = json.loads(kit.files["adapter/lora_config.json"])
    assert set(config) <= PEFT_LORA_FIELDS
    assert config == {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": 16,
        "lora_alpha": 32,
        "target_modules": ["q_proj", "v_proj"],
        "lora_dropout": 0.05,
        "bias": "none",
    }
    assert config["task_type"] in PEFT_TASK_TYPES and config["bias"] in PEFT_BIAS
    snippet = kit.files["adapter/lora_config.py"]
    calls = [
        node
        for node in ast.walk(ast.parse(snippet))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "LoraConfig"
    ]
    assert len(calls) == 1 and {k.arg for k in calls[0].keywords} <= PEFT_LORA_FIELDS
    # Run the snippet as a user would, against a stand-in `peft` whose LoraConfig takes exactly
    # PEFT's field names as keywords (peft itself pulls in torch, which is not installed here).
    stub = tmp_path / "stub" / "peft"
    stub.mkdir(parents=True)
    fields = "\n".join(f"    {name}: Any = None" for name in sorted(PEFT_LORA_FIELDS))
    stub.joinpath("__init__.py").write_text(
        "from dataclasses import dataclass\nfrom typing import Any\n\n\n"
        f"@dataclass(kw_only=True)\nclass LoraConfig:\n{fields}\n\n\n"
        "def get_peft_model(model: Any, config: LoraConfig) -> Any:\n    return model\n"
    )
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for name in ("lora_config.py", "lora_config.json"):
        adapter.joinpath(name).write_text(kit.files[f"adapter/{name}"])
    done = subprocess.run(
        [sys.executable, str(adapter / "lora_config.py")],
        env={"PYTHONPATH": str(tmp_path / "stub")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "r=16" in done.stdout and "lora_alpha=32" in done.stdout


async def test_demo_kit_prompt_and_readme(demo_kit: tuple[Any, Kit]) -> None:
    run, kit = demo_kit
    prompt = kit.files["prompt/candidate_prompt.txt"].strip()
    assert prompt.startswith(DEMO["system_prompt"])
    assert "reply with the JSON object alone" in prompt
    # No JSON case passed, so the example is the one the grader pins, for the first such case.
    assert prompt.endswith('a correct reply is:\n{"refund_days": 45}')
    assert "Answer from the relevant facts" not in prompt  # no content failure with the facts
    body = json.loads(kit.files["prompt/candidate-run.json"])
    assert body["candidate_prompt"] == prompt
    assert (body["suite_id"], body["model"]) == (run.suite_id, "builtin/reader")
    StartRun.model_validate(body)

    readme = kit.files["README.md"]
    v = run.verdict
    assert "**mixed**" in readme and "**retrieval_and_prompt_fix**" in readme
    assert "n = 24 labelled of 24 (knowledge 12, behavior 12)" in readme
    lift = v["lift"]
    assert (
        f"{100 * lift['value']:+.0f} points (95% CI {100 * lift['low']:+.0f} to "
        f"{100 * lift['high']:+.0f}" in readme
    )
    first = readme.split("## What to do first")[1].split("\n1. ")[1]
    assert first.startswith("Try the prompt fix")
    for name in kit.manifest["files"]:
        assert f"`{name}`" in readme
    assert sorted(kit.files) == kit.manifest["files"]
    assert json.loads(kit.files["kit.json"]) == kit.manifest


# --- a suite of our own where a candidate prompt ran (fake provider behind litellm) --------------

CANDIDATE = "Format every answer as the question asks."
INJECTION = {"position": "system", "format": "tagged"}
CODE_SCHEMA = {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}


def code_case(cid: str, item: int, marker: str = "", **expected: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "input": f'{marker}Reply with JSON {{"code": ...}} for item {item}.',
        "facts": [f"The code word for item {item} is zebra-{item}-q."],
        "expected": expected
        or {
            "type": "json_schema",
            "schema": {**CODE_SCHEMA, "properties": {"code": {"const": f"zebra-{item}-q"}}},
        },
    }


def own_suite() -> dict[str, Any]:
    knowledge = [
        {
            "id": f"k{i}",
            "input": f"Which code word belongs to item {i}?",
            "facts": [f"The code word for item {i} is zebra-{i}-q.", f"Item {i} ships in May."],
            "expected": f"zebra-{i}-q",
        }
        for i in range(6)
    ]
    return {
        "name": "own",
        "system_prompt": "You answer questions about items.",
        "cases": [
            *knowledge,
            code_case("j-easy", 50, "[easy] ", type="json_schema", schema=CODE_SCHEMA),
            code_case("j-fixed1", 51, "[fixable] "),
            code_case("j-fixed2", 52, "[fixable] "),
            *[code_case(f"j-stuck{i}", 60 + i) for i in range(3)],
            {
                "id": "rx",
                "input": "Give the ticket number for item 70.",
                "facts": ["Item 70 has ticket CODE-0070."],
                "expected": {"type": "regex", "pattern": "^CODE-\\d{4}$"},
            },
            {
                "id": "ct",
                "input": "Which code word belongs to item 77?",
                "facts": ["The code word for item 77 is zebra-77-q."],
                "expected": {"type": "exact", "value": "zebra-77-q"},
            },
            {
                "id": "many",
                "input": "Which code word belongs to item 88?",
                "facts": ["Item 88 is listed twice.", "Item 88 has the code alpha-1."],
                "expected": {"type": "contains", "values": ["alpha-1", "beta-1"]},
            },
            {
                "id": "miss",
                "input": "Which code word belongs to item 99?",
                "facts": ["Item 99 ships in June."],
                "expected": "omega-9",
            },
            {
                "id": "num",
                "input": "[words] How many kilos does the crate weigh?",
                "facts": ["The crate weighs 42 kilos."],
                "expected": {"type": "numeric", "value": 42},
            },
        ],
    }


def responder(body: Body) -> str:
    """Knows nothing closed-book, copies the first fact, and writes JSON only where told."""
    messages = body["messages"]
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = messages[-1]["content"]
    answer = facts_responder(body)
    if "<facts>" not in system:
        return answer
    code = answer.rsplit(" ", 1)[-1].rstrip(".")
    if "[easy]" in user or ("[fixable]" in user and system.startswith(CANDIDATE)):
        return json.dumps({"code": code})
    if "[words]" in user:
        return "It weighs forty-two kilos."
    return answer


async def test_kit_of_a_run_with_a_prompt_fix_arm(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = responder
    suite = own_suite()
    run, kit = await kit_of(
        engine, suite, "fake-model", candidate_prompt=CANDIDATE, injection=INJECTION
    )
    assert run.verdict["prompt_fix"]["cases"] == 10
    assert run.verdict["counts"]["knowledge"] == 7 and run.verdict["counts"]["behavior"] == 10
    adapter = kit.manifest["adapter"]
    # Persistent: the behavior cases the candidate prompt did not fix (j-fixed1/2 it did).
    assert adapter["persistent_cases"] == 8
    assert adapter["excluded_cases"] == ["miss"]  # its facts do not contain "omega-9"
    assert adapter["to_label_cases"] == ["rx", "many"]
    with_target = ["j-stuck0", "j-stuck1", "j-stuck2", "ct", "num"]
    assert adapter["target_sources"] == dict.fromkeys(with_target, "grader")
    assert adapter["train_cases"] == [c for c in with_target if expected_split(c) == "train"]
    assert adapter["heldout_cases"] == [c for c in with_target if expected_split(c) == "heldout"]

    examples = assert_chat_lines(kit.files["adapter/train.jsonl"]) + assert_chat_lines(
        kit.files["adapter/heldout.jsonl"]
    )
    cases = {c["id"]: Case.model_validate(c) for c in suite["cases"]}
    sent = [b["messages"] for b in fake_provider.bodies]
    for case_id, line in zip(
        adapter["train_cases"] + adapter["heldout_cases"], examples, strict=True
    ):
        *prompt, assistant = line["messages"]
        # Exactly what the run sent with the facts (open-book: system position, tagged).
        assert prompt in sent and "<facts>" in prompt[0]["content"]
        assert prompt[0]["content"].startswith(suite["system_prompt"])
        assert prompt[1]["content"] == cases[case_id].input
        assert grade(cases[case_id].expected, assistant["content"]).passed
    assert {json.dumps(e["messages"][-1]["content"]) for e in examples} >= {
        json.dumps("zebra-77-q"),
        json.dumps("42"),
    }

    rows = list(csv.DictReader(io.StringIO(kit.files["adapter/to-label.csv"])))
    assert [r["case_id"] for r in rows] == ["rx", "many"]
    for row in rows:
        assert row["target"] == "" and row["split"] == expected_split(row["case_id"])
        assert row["user"] == cases[row["case_id"]].input and "<facts>" in row["system"]
        spec = json.loads(row["grader"])
        assert spec == cases[row["case_id"]].expected.model_dump(mode="json", by_alias=True)
    assert "regex" in rows[0]["why"] and "2 values" in rows[1]["why"]

    prompt = kit.files["prompt/candidate_prompt.txt"]
    assert prompt.startswith(suite["system_prompt"])
    # The JSON example is the answer of a case that passed, not one the grader spelled out.
    assert 'a correct reply is:\n{"code": "zebra-50-q"}' in prompt
    assert "/^CODE-\\d{4}$/" in prompt and "Give the ticket number for item 70." in prompt
    assert "as a number in digits" in prompt
    assert "If the facts do not contain the answer, say that they do not" in prompt
    assert set(kit.manifest["prompt"]["content_cases"]) == {"ct", "many", "miss"}
    assert "the behavior cases the run's candidate prompt did not fix" in kit.files["README.md"]
    assert kit.files["adapter/to-label.csv"].count("\n") > 2  # multi-line fields stay quoted

    # The drafted prompt runs as a candidate_prompt (over HTTP: tests/test_kit_api.py).
    again = await engine.diagnose(
        suite, model="fake-model", candidate_prompt=prompt.strip(), injection=INJECTION
    )
    assert again.status == "succeeded" and again.verdict["prompt_fix"]["cases"] == 10


# --- targets, and the kits with nothing to offer ------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "target"),
    [
        ({"type": "exact", "value": "Paris"}, "Paris"),
        ("45 days", "45 days"),
        ({"type": "contains", "values": ["a", "b"], "mode": "all"}, None),
        ({"type": "numeric", "value": 3.5, "tolerance": 0.1}, "3.5"),
        ({"type": "regex", "pattern": "^\\d+$"}, None),
        ({"type": "judge", "rubric": "polite"}, None),
        (
            {"type": "json_schema", "schema": {"type": "object", "required": ["a"],
             "properties": {"a": {"const": [1, {"b": True}]}}}},
            '{"a": [1, {"b": true}]}',
        ),
        # Pinned values the rest of the schema rejects are no target.
        (
            {"type": "json_schema", "schema": {"type": "object", "required": ["a"],
             "minProperties": 2, "properties": {"a": {"const": 1}}}},
            None,
        ),
        (
            {"type": "all", "checks": [{"type": "regex", "pattern": "^z"},
                                       {"type": "contains", "values": ["zeta"]}]},
            "zeta",
        ),
        (
            {"type": "any", "checks": [{"type": "judge", "rubric": "x"},
                                       {"type": "exact", "value": "yes"}]},
            "yes",
        ),
        # A literal the whole grader fails is no target.
        (
            {"type": "all", "checks": [{"type": "regex", "pattern": "^\\d"},
                                       {"type": "exact", "value": "x"}]},
            None,
        ),
    ],
)  # fmt: skip
def test_literal_targets(expected: Any, target: str | None) -> None:
    case = Case.model_validate({"id": "c", "input": "q", "facts": ["f"], "expected": expected})
    assert literal_target(case.expected) == target


async def test_a_knowledge_only_run_has_a_corpus_and_nothing_else(engine: Engine) -> None:
    suite = {
        "name": "facts",
        "cases": [c for c in DEMO["cases"] if not c["id"].startswith("json-")],
    }
    _, kit = await kit_of(engine, suite, "builtin/reader")
    assert kit.manifest["next_rung"] == "retrieval"
    assert sorted(kit.files) == ["README.md", "kit.json", "retrieval/corpus.jsonl"]
    first = kit.files["README.md"].split("## What to do first")[1].split("\n1. ")[1]
    assert first.startswith("Build retrieval")


async def test_no_kit_before_the_run_ends_or_for_a_failed_run(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    with pytest.raises(NotFoundError):
        await run_kit(engine.store, "no-such-run")
    command = StartRun.model_validate({"suite": DEMO, "model": "builtin/reader"})
    queued = await runs.start_run(engine.store, engine.catalog, command)
    with pytest.raises(ConflictError, match="queued"):
        await run_kit(engine.store, queued.id)
    fake_provider.fault_rule = lambda body, attempt: (400, {})
    failed = await engine.diagnose(own_suite(), model="fake-model")
    assert failed.status == "failed"
    with pytest.raises(ConflictError, match="without a verdict"):
        await run_kit(engine.store, failed.id)
