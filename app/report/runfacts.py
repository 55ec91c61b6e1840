"""Run facts: what was run, how, what it cost, and where its JSON is."""

from __future__ import annotations

from datetime import datetime

from app.report.data import ARM_TITLES, ReportData
from app.report.html import Markup, el
from app.service.views import RunView


def duration(run: RunView) -> str:
    if run.started_at is None or run.finished_at is None:
        return "not finished" if run.started_at else "not started"
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def money(value: float | None) -> str:
    return "unknown (no price for this model)" if value is None else f"${value:.4f}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def _pair(term: str, *value: object) -> list[Markup]:
    return [el("dt", term), el("dd", *value)]


def _usage_table(data: ReportData) -> Markup | None:
    verdict = data.run.verdict
    if verdict is None:
        return None
    usage = verdict.usage
    rows = []
    for arm, u in usage.per_arm.items():
        base = arm.split(":")[1] if arm.startswith("judge:") else arm
        title = ARM_TITLES.get(base, base)
        title = f"Judge ({title})" if arm.startswith("judge:") else title
        rows.append(
            el(
                "tr",
                el("th", title, scope="row"),
                el("td", str(u.calls), class_="num"),
                el("td", str(u.cached_calls), class_="num"),
                el("td", f"{u.prompt_tokens:,}", class_="num"),
                el("td", f"{u.completion_tokens:,}", class_="num"),
                el("td", money(u.cost_usd), class_="num"),
            )
        )
    rows.append(
        el(
            "tr",
            el("th", "Total", scope="row"),
            el("td", str(usage.calls), class_="num"),
            el("td", str(usage.cached_calls), class_="num"),
            el("td", f"{usage.prompt_tokens:,}", class_="num"),
            el("td", f"{usage.completion_tokens:,}", class_="num"),
            el("td", money(usage.cost_usd), class_="num"),
            class_="total",
        )
    )
    head = ["Arm", "Calls", "Cached", "Prompt tokens", "Reply tokens", "Cost"]
    return el(
        "div",
        el(
            "table",
            el("caption", "Calls, tokens and cost per arm"),
            el(
                "thead",
                el(
                    "tr",
                    [
                        el("th", h, scope="col", class_="num" if i else None)
                        for i, h in enumerate(head)
                    ],
                ),
            ),
            el("tbody", rows),
            class_="usage",
        ),
        class_="table-wrap",
    )


def run_facts(data: ReportData) -> Markup:
    run, options = data.run, data.run.config
    p = run.progress
    params = [
        f"temperature {options.temperature:g}",
        f"samples up to {options.samples}",
        f"seed {options.seed if options.seed is not None else 'none'}",
        f"max tokens {options.max_tokens or 'model default'}",
        f"acceptable failure rate {100 * options.max_failure_rate:g}%",
        f"cache {'on' if options.cache else 'off'}",
    ]
    if options.max_concurrency:
        params.append(f"concurrency {options.max_concurrency}")
    if options.max_cost_usd:
        params.append(f"budget ${options.max_cost_usd:g}")
    if options.judge_model:
        params.append(f"judge {options.judge_model}")
    sampling = run.verdict.sampling if run.verdict else None
    terms = [
        *_pair("Model", el("code", run.model)),
        *_pair("Suite", data.suite.name, " ", el("code", run.suite_id, class_="muted")),
        *_pair("Parameters", ", ".join(params)),
        *_pair(
            "Fact injection",
            f"{options.injection.format} facts, "
            + (
                "in the system message"
                if options.injection.position == "system"
                else "before the input"
            ),
        ),
        *_pair(
            "Calls",
            f"{p.calls_done} made of {p.calls_planned} planned; "
            f"{p.calls_cached} from the cache, {p.calls_failed} failed",
        ),
    ]
    if sampling is not None and sampling.samples > 1:
        terms += _pair(
            "Adaptive sampling",
            f"{sampling.calls_used} calls against {sampling.calls_fixed_design} for fixed "
            f"sampling at {sampling.samples}",
        )
    terms += [
        *_pair("Status", run.status),
        *_pair("Created", when(run.created_at)),
        *_pair("Duration", duration(run)),
        *_pair("Run id", el("code", run.id)),
        *_pair("rung version", data.version),
        *_pair("Report generated", when(data.generated_at)),
    ]
    prompts = [
        el(
            "details",
            el("summary", "System prompt"),
            el("pre", data.suite.system_prompt or "(none)", class_="prompt"),
        )
    ]
    if options.candidate_prompt:
        prompts.append(
            el(
                "details",
                el("summary", "Candidate prompt (the prompt-fix arm)"),
                el("pre", options.candidate_prompt, class_="prompt"),
            )
        )
    return el(
        "section",
        el("h2", "Run facts", id="facts-title"),
        el("dl", terms, class_="facts-list"),
        *prompts,
        _usage_table(data),
        el(
            "p",
            el(
                "button",
                "Download the run as JSON",
                type="button",
                id="download-json",
                class_="button",
            ),
            " ",
            el(
                "a",
                f"GET /v1/runs/{run.id}",
                href=f"/v1/runs/{run.id}",
                id="api-link",
                class_="api-link",
                hidden=True,
            ),
            class_="json-links",
        ),
        class_="card",
        aria_labelledby="facts-title",
    )
