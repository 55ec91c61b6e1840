"""The kit's README.md: what the evidence was, what each file is, and what to do first."""

from __future__ import annotations

import json

from app.diagnosis.verdict import Rate
from app.kit.corpus import Corpus
from app.kit.evidence import RunEvidence
from app.kit.finetune import MIN_TRAINING_EXAMPLES, AdapterData
from app.kit.lora import LORA_CONFIG, WHY
from app.kit.prompt import PromptDraft

_ARM_NAMES = {
    "closed_book": "closed-book",
    "open_book": "with the facts",
    "prompt_fix": "with the candidate prompt",
}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _ids(ids: list[str], shown: int = 5) -> str:
    return ", ".join(ids[:shown]) + (", ..." if len(ids) > shown else "")


def _rate(r: Rate) -> str:
    return f"{_pct(r.rate)} ({r.passes} of {r.n}; 95% CI {_pct(r.low)}–{_pct(r.high)})"


def evidence_section(ev: RunEvidence) -> list[str]:
    v = ev.verdict
    counts = ", ".join(f"{k} {n}" for k, n in v.counts.items() if k != "total" and n)
    lines = [
        "## The evidence",
        "",
        f"- Verdict: **{v.diagnosis}**; next rung: **{v.next_rung or 'none yet (inconclusive)'}**.",
        f"- Cases: n = {v.labelled} labelled of {v.counts.get('total', 0)} ({counts or 'none'}).",
    ]
    for arm, rate in v.pass_rates.items():
        lines.append(f"- Pass rate {_ARM_NAMES.get(arm, arm)}: {_rate(rate)}.")
    if v.lift.value is not None:
        mdl = v.minimum_detectable_lift
        lines.append(
            f"- Lift from the facts: {100 * v.lift.value:+.0f} points (95% CI "
            f"{100 * v.lift.low:+.0f} to {100 * v.lift.high:+.0f}; McNemar mid-p "
            f"{v.lift.mid_p:.3g}, {'significant' if v.lift.significant else 'not significant'})"
            + (
                f"; the smallest lift {v.labelled} cases reliably detect is about "
                f"{100 * mdl:.0f} points."
                if mdl is not None
                else "."
            )
        )
    if v.prompt_fix is not None:
        pf = v.prompt_fix
        lines.append(
            f"- The run's candidate prompt passed {pf.prompt_fix_passes} of {pf.cases} cases that "
            f"failed with the facts, against {pf.control_passes} for a fresh re-run of the "
            f"original prompt; {pf.remaining_failures} failures remain."
        )
    if v.partial:
        lines.append("- The run stopped early: this verdict covers the cases that finished.")
    return [*lines, "", f"> {v.summary}", ""]


def _first_steps(ev: RunEvidence, corpus: bool, prompt: bool, adapter: bool) -> list[str]:
    """Cheapest rung first: a prompt costs minutes, retrieval days, an adapter weeks."""
    rung = ev.verdict.next_rung
    steps: list[str] = []
    retrieval = (
        "Build retrieval: index `retrieval/corpus.jsonl` (one passage per line) in your "
        "retriever, or upload it as a rung corpus for the retrieval arm, and re-run the suite "
        "to see how much of the facts' lift a real retriever recovers."
    )
    fix = (
        "Try the prompt fix: read and edit `prompt/candidate_prompt.txt`, then start a run "
        "with it as `candidate_prompt` (`POST /v1/runs` with `prompt/candidate-run.json`). "
        "It is tried on the cases that fail with the facts, beside a fresh control."
    )
    train = (
        "Train the adapter: fill in the targets of `adapter/to-label.csv` (if any), train "
        "with `adapter/train.jsonl` and `adapter/lora_config.json`, then diagnose the tuned "
        "model on `adapter/heldout-suite.json`, the cases it never saw."
    )
    if rung is None:
        more = ev.verdict.cases_to_decide
        steps.append(
            "Add cases before climbing anything: the evidence does not pick a rung yet"
            + (f" (about {more} labelled cases in all would decide it)." if more else ".")
        )
    elif rung == "prompt":
        steps.append("Stay at the prompt rung: nothing here needs to be climbed.")
    if rung in ("prompt_fix", "retrieval_and_prompt_fix") and prompt:
        steps.append(fix)
    if rung in ("retrieval", "retrieval_and_prompt_fix", "retrieval_and_adapter") and corpus:
        steps.append(retrieval)
    if rung in ("adapter", "retrieval_and_adapter") and adapter:
        steps.append(train)
    if rung in ("prompt_fix", "retrieval_and_prompt_fix") and adapter:
        steps.append(
            "If failures persist with the candidate prompt, " + train[0].lower() + train[1:]
        )
    return ["## What to do first", "", *[f"{i}. {s}" for i, s in enumerate(steps, 1)], ""]


def _files(ev: RunEvidence, c: Corpus | None, p: PromptDraft | None, a: AdapterData) -> list[str]:
    rows = [
        ("README.md", "this file"),
        ("kit.json", "the same facts, for scripts: counts, case ids per file, warnings"),
    ]
    if c is not None:
        rows.append(
            (
                "retrieval/corpus.jsonl",
                f"{c.passages} passages from the {len(c.cases)} "
                'knowledge cases: `{"id", "text", "source_case"}` per line',
            )
        )
    if p is not None:
        rows.append(("prompt/candidate_prompt.txt", "the drafted system prompt"))
        rows.append(
            (
                "prompt/candidate-run.json",
                "a `POST /v1/runs` body: this run's suite, "
                "model and options with the draft as `candidate_prompt`",
            )
        )
    counts = a.counts()
    if a.persistent:
        rows += [
            ("adapter/train.jsonl", f"{counts['train']} chat fine-tuning examples (OpenAI format)"),
            ("adapter/heldout.jsonl", f"{counts['heldout']} held-out examples, same format"),
            (
                "adapter/to-label.csv",
                f"{counts['to_label']} cases with no literal target: fill in the `target` column",
            ),
            ("adapter/lora_config.json", "PEFT `LoraConfig` keyword arguments"),
            ("adapter/lora_config.py", "builds that LoraConfig, each setting explained"),
        ]
        if any(e.split == "heldout" for e in a.examples):
            rows.append(("adapter/heldout-suite.json", "the held-out cases as a rung suite"))
    table = ["| file | what |", "|---|---|", *[f"| `{f}` | {w} |" for f, w in rows]]
    return ["## The files", "", *table, ""]


def _retrieval(c: Corpus) -> list[str]:
    dup = (
        f" {c.duplicates} fact(s) shared with an earlier case appear once." if c.duplicates else ""
    )
    return [
        "## Retrieval",
        "",
        f"`retrieval/corpus.jsonl` holds every fact of the {len(c.cases)} knowledge cases (they "
        f"fail closed-book and pass with their facts), {c.passages} passages.{dup} Each passage "
        "id is `<case id>#<fact number>`, so retrieval recall can be scored against "
        "`source_case`. Add the rest of your documents to the index: a retriever that only "
        "has to choose among these facts has an easier job than production.",
        "",
    ]


def _prompt(ev: RunEvidence, p: PromptDraft) -> list[str]:
    kinds = []
    if p.format_cases:
        kinds.append(f"{len(p.format_cases)} case(s) on format ({_ids(p.format_cases)})")
    if p.content_cases:
        kinds.append(f"{len(p.content_cases)} case(s) on content ({_ids(p.content_cases)})")
    examples = "; ".join(p.examples) if p.examples else "none could be derived"
    return [
        "## Prompt fix",
        "",
        f"Drafted from the failure kinds seen with the facts: {'; '.join(kinds)}. Format "
        "failures get an explicit output format with an example; content failures with the "
        "facts get an instruction to answer from them, and to say so when they do not hold the "
        f"answer. Where the example comes from: {examples}. The suite's own system prompt "
        "comes first, unchanged. An example taken from a failing case hands that case its "
        "answer: judge the fix on the other cases, or swap in an example from outside the suite.",
        "",
        "Run it (the API):",
        "",
        "```sh",
        "curl -X POST localhost:8000/v1/runs -H 'content-type: application/json' "
        "-d @prompt/candidate-run.json",
        "```",
        "",
        f'or `rung diagnose SUITE --model {ev.model} --candidate-prompt "$(cat '
        'prompt/candidate_prompt.txt)"`. The verdict then scores it against a fresh control.',
        "",
    ]


def _adapter(ev: RunEvidence, a: AdapterData, warnings: list[str]) -> list[str]:
    c = a.counts()
    which = (
        "the behavior cases the run's candidate prompt did not fix"
        if ev.options.candidate_prompt
        else "the behavior cases (no candidate prompt was tried: try the prompt fix first)"
    )
    lines = [
        "## Adapter",
        "",
        f"Persistent cases: {c['persistent_cases']}, {which}. Each example is the suite's "
        "system prompt, the user message exactly as the run sent it (the facts injected "
        f"{ev.options.injection.position}, as {ev.options.injection.format}), and the target "
        "answer: the grader's literal answer where it gives one (checked with the grader), "
        "else an answer of the run that the grader passed.",
        "",
        f"- train: {c['train']} examples (`adapter/train.jsonl`), held out: {c['heldout']} "
        "(`adapter/heldout.jsonl`); a case is held out when the first 8 bytes of sha256(case "
        "id), as a fraction of 2^64, are below 0.2, so it keeps its side as the suite grows.",
        f"- to label: {c['to_label']} (`adapter/to-label.csv`, with their split). Fill in "
        '`target` and append each row as `{"messages": [system, user, assistant]}` to the '
        "file of its split.",
    ]
    if a.excluded:
        lines.append(
            f"- left out: {len(a.excluded)} case(s) whose facts do not contain the expected "
            f"answer ({_ids(a.excluded)}): fix their facts, not the model."
        )
    lines += ["", *[f"**Warning:** {w}" for w in warnings], ""] if warnings else [""]
    lines += [
        f"LoRA to start from (`adapter/lora_config.json`; the threshold for the warning above "
        f"is {MIN_TRAINING_EXAMPLES} training examples):",
        "",
        "| setting | value | why |",
        "|---|---|---|",
        *[f"| `{k}` | `{json.dumps(LORA_CONFIG[k])}` | {why} |" for k, why in WHY.items()],
        "",
    ]
    return lines


def build_readme(
    ev: RunEvidence,
    corpus: Corpus | None,
    prompt: PromptDraft | None,
    adapter: AdapterData,
    adapter_warnings: list[str],
) -> str:
    when = ev.finished_at.strftime("%Y-%m-%d %H:%M UTC") if ev.finished_at else "unfinished"
    lines = [
        f"# The next-rung kit for run {ev.run_id}",
        "",
        f"Suite **{ev.suite_name}** (`{ev.suite_id}`), model `{ev.model}`, run {ev.status} "
        f"({when}). Everything here is built from that run's stored evidence.",
        "",
        *evidence_section(ev),
        *_first_steps(ev, corpus is not None, prompt is not None, bool(adapter.persistent)),
        *_files(ev, corpus, prompt, adapter),
    ]
    if corpus is not None:
        lines += _retrieval(corpus)
    if prompt is not None:
        lines += _prompt(ev, prompt)
    if adapter.persistent:
        lines += _adapter(ev, adapter, adapter_warnings)
    return "\n".join(lines).rstrip() + "\n"
