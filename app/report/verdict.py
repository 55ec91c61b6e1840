"""The verdict banner: the ladder with the recommended rung, the diagnosis in words, the
one-line reason, and the warnings a reader must not miss."""

from __future__ import annotations

from app.diagnosis.usage import RunVerdict
from app.report.charts import pct, points
from app.report.html import Markup, el, join
from app.service.views import RunView

DIAGNOSIS_TITLES = {
    "no_gap": "No gap: the model already does this task",
    "knowledge": "Knowledge gap: the model lacks the facts",
    "behavior": "Behavior gap: it fails even with the facts",
    "mixed": "Both gaps: missing facts, and a task it can't do with them",
    "inconclusive": "Inconclusive: not enough evidence to pick a rung",
}
NEXT_RUNG_TITLES = {
    "prompt": "Stay at the prompt",
    "prompt_fix": "Fix the prompt",
    "retrieval": "Add retrieval",
    "retrieval_and_prompt_fix": "Add retrieval, and fix the prompt",
    "adapter": "Train a thin adapter",
    "retrieval_and_adapter": "Add retrieval, and a thin adapter",
}
LADDER = (
    ("prompt", "Prompt", "×1"),
    ("retrieval", "Retrieval", "×10"),
    ("fine_tune", "Fine-tune", "×100"),
    ("distill", "Distill", "×1000"),
)
_PROMPT_FIX = "rewrite the prompt"
_RETRIEVAL = "build retrieval"
_ADAPTER = "a thin adapter (LoRA)"
# next_rung -> the ladder rungs it points at, with what to do there.
_MARKS: dict[str, dict[str, str]] = {
    "prompt": {"prompt": "stay here"},
    "prompt_fix": {"prompt": _PROMPT_FIX},
    "retrieval": {"retrieval": _RETRIEVAL},
    "retrieval_and_prompt_fix": {"prompt": _PROMPT_FIX, "retrieval": _RETRIEVAL},
    "adapter": {"fine_tune": _ADAPTER},
    "retrieval_and_adapter": {"retrieval": _RETRIEVAL, "fine_tune": _ADAPTER},
}


def ladder_marks(verdict: RunVerdict | None) -> dict[str, str]:
    if verdict is None or verdict.next_rung is None:
        return {}
    marks = dict(_MARKS[verdict.next_rung])
    fix = verdict.prompt_fix
    fix_worked = fix is not None and fix.cases > 0 and not fix.provably_fails
    if verdict.next_rung in ("prompt", "retrieval") and fix_worked:
        marks["prompt"] = "adopt the candidate prompt"  # it removed the failures
    return marks


def ladder(verdict: RunVerdict | None) -> Markup:
    """Prompt → retrieval → fine-tune → distill as steps, each about ten times the cost of
    the one below; the recommended ones are marked (aria-current) with what to do there."""
    marks = ladder_marks(verdict)
    steps = []
    todo = []
    for number, (key, title, cost) in enumerate(LADDER, start=1):
        action = marks.get(key)
        steps.append(
            el(
                "li",
                el("span", "recommended", class_="step-badge") if action else None,
                el("span", el("span", f"{number} ", class_="step-no"), title, class_="step-title"),
                el("span", f"cost {cost}", class_="step-cost"),
                class_="step" + (" recommended" if action else ""),
                aria_current="step" if action else None,
                data_rung=key,
            )
        )
        if action:
            todo.append(el("li", el("strong", f"{title}: "), action))
    caption = (
        el("ol", todo, class_="todo")
        if todo
        else el("p", "No rung yet: the evidence does not decide.", class_="todo")
    )
    return el(
        "figure",
        el("ol", steps, class_="ladder-steps", aria_label="The ladder, cheapest rung first"),
        el("figcaption", caption),
        class_="ladder",
    )


def _p(value: float) -> str:
    if value < 0.001:
        return "< 0.001"
    return f"{value:.2g}"


def reason_line(verdict: RunVerdict) -> str:
    """The lift with its interval and its test, and whether the with-facts arm provably fails."""
    lift = verdict.lift
    if lift.value is None:
        return "No case got a confident label, so there is no lift to measure."
    significance = "significant" if lift.significant else "not significant"
    if lift.method == "clustered" and lift.p_value is not None:
        test = f"p {_p(lift.p_value)} clustered by case"
    else:
        test = f"mid-p {_p(lift.mid_p)}"
    first = (
        f"Facts change the pass rate by {points(lift.value)} points "
        f"(95% CI {points(lift.low)} to {points(lift.high)}; {test}, {significance})."
    )
    open_book = verdict.pass_rates["open_book"]
    limit = pct(verdict.max_failure_rate)
    if verdict.open_book_provably_fails:
        second = (
            f"With the facts it still provably fails: at least {pct(1 - open_book.high)} of "
            f"cases fail (95% confidence), above the acceptable {limit}."
        )
    else:
        second = (
            f"With the facts it does not provably fail: its failure rate is not shown to "
            f"exceed {limit} (which is not proof that it stays below)."
        )
    return f"{first} {second}"


def warnings(run: RunView) -> list[Markup]:
    verdict = run.verdict
    out: list[Markup] = []
    if run.status in ("queued", "running"):
        p = run.progress
        out.append(
            _note(
                f"This run is still {run.status}: {p.calls_done} of {p.calls_planned} calls "
                "done. The report shows the cases finished so far; render it again later.",
                "info",
            )
        )
    elif run.status == "failed":
        out.append(_note(f"The run failed: {run.error or 'no reason given'}.", "bad"))
    elif run.status == "cancelled":
        why = "its budget ran out" if run.cancel_reason == "budget" else "it was cancelled"
        out.append(
            _note(f"The run stopped early ({why}): the verdict covers what finished.", "bad")
        )
    if verdict is None:
        return out
    if verdict.insufficient_evidence:
        out.append(
            _note(
                f"Only {verdict.labelled} cases got a confident label; rung needs at least 10 "
                "before it calls a rung, so read the numbers as description, not proof.",
                "warn",
            )
        )
    if verdict.cases_to_decide:
        out.append(
            _note(
                f"About {verdict.cases_to_decide} cases in all would decide it, if the "
                "proportions seen here hold.",
                "info",
            )
        )
    if verdict.facts_missing_answer:
        count = len(verdict.facts_missing_answer)
        out.append(
            _note(
                f"{count} case{'s' if count != 1 else ''}: the facts do not contain the expected "
                "answer, so a failure with facts may be the facts' fault, not the model's.",
                "warn",
                action=("facts=missing", "Show them"),
            )
        )
    if verdict.distraction_cases:
        count = len(verdict.distraction_cases)
        out.append(
            _note(
                f"{count} case{'s' if count != 1 else ''} passed closed-book but failed with the "
                "facts: check the facts' format and position.",
                "warn",
                action=("label=distraction", "Show them"),
            )
        )
    return out


def _note(text: str, tone: str, action: tuple[str, str] | None = None) -> Markup:
    button = (
        el("button", action[1], type="button", class_="link", data_filter=action[0])
        if action
        else None
    )
    return el("p", el("span", text), " ", button, class_=f"note note-{tone}")


def banner(run: RunView) -> Markup:
    verdict = run.verdict
    if verdict is None:
        title, rung, reason, summary = "No verdict yet", "No rung yet", "", ""
        n = ""
    else:
        title = DIAGNOSIS_TITLES[verdict.diagnosis]
        rung = NEXT_RUNG_TITLES.get(verdict.next_rung or "", "No rung yet: gather more evidence")
        reason, summary = reason_line(verdict), verdict.summary
        total = verdict.counts.get("total", 0)
        n = f"n = {verdict.labelled} confidently labelled of {total} cases"
    return el(
        "section",
        el(
            "div",
            el("p", "Diagnosis", class_="eyebrow"),
            el("h1", title, id="verdict-title"),
            el(
                "p",
                el("span", "Next rung", class_="pill-label"),
                el("strong", rung, class_="pill-value"),
                class_="next-rung",
                data_diagnosis=verdict.diagnosis if verdict else "none",
            ),
            el("p", reason, class_="reason") if reason else None,
            el("p", n, class_="n-line") if n else None,
            class_="banner-text",
        ),
        ladder(verdict),
        el("div", el("p", "In plain words", class_="eyebrow"), el("p", summary), class_="summary")
        if summary
        else None,
        join(warnings(run)),
        class_="banner card",
        aria_labelledby="verdict-title",
    )
