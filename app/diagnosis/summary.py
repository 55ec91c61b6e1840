"""The verdict in plain words, for someone who will not read the intervals."""

from __future__ import annotations

from app.diagnosis.options import MAX_SAMPLES
from app.diagnosis.verdict import Rate, Verdict

_HEADLINES = {
    "no_gap": "The model already does this task: stay at the prompt rung.",
    "knowledge": "Knowledge gap: the model fails because it lacks the facts. Add retrieval.",
    "behavior": "Behavior gap: the model fails even with the facts in front of it.",
    "mixed": "Both gaps: missing facts and a task the model can't do even with the facts.",
    "inconclusive": "Not enough evidence to pick a rung yet.",
}

_NEXT_STEPS = {
    "prompt": "Keep the current approach; no rung to climb.",
    "prompt_after_fix": (
        "Next: adopt the candidate prompt; it removed the failures the facts alone could not. "
        "No fine-tuning needed."
    ),
    "retrieval_after_fix": (
        "Next: build retrieval for the facts and adopt the candidate prompt, which removed the "
        "failures that persisted with facts. No fine-tuning needed."
    ),
    "prompt_fix": (
        "Next: rewrite the prompt (format instructions, examples) and re-run with it as "
        "candidate_prompt. Consider a fine-tuned adapter only if that fails too."
    ),
    "retrieval": "Next: build retrieval that puts these facts in the prompt. Fine-tuning "
    "is the wrong tool for teaching facts, and facts go stale.",
    "retrieval_and_prompt_fix": (
        "Next: add retrieval for the facts, and rewrite the prompt for the failures that "
        "persist with facts; re-run with the rewrite as candidate_prompt."
    ),
    "adapter": (
        "The prompt fix did not remove the failures: a thin fine-tuned adapter (LoRA) that "
        "teaches the shape of the task is the next rung."
    ),
    "retrieval_and_adapter": (
        "Add retrieval for the facts; the prompt fix did not remove the remaining failures, "
        "so pair retrieval with a thin fine-tuned adapter for the shape of the task."
    ),
}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _rate_words(name: str, r: Rate) -> str:
    return (
        f"{name} it passed {r.passes} of {r.n} cases ({_pct(r.rate)}, "
        f"95% CI {_pct(r.low)}–{_pct(r.high)})"
    )


def _next_step_key(v: Verdict) -> str:
    """A fix that worked changes the advice: adopt the candidate, don't keep the old prompt."""
    fix_worked = v.prompt_fix is not None and not v.prompt_fix.provably_fails
    if fix_worked and (v.diagnosis, v.next_rung) == ("behavior", "prompt"):
        return "prompt_after_fix"
    if fix_worked and (v.diagnosis, v.next_rung) == ("mixed", "retrieval"):
        return "retrieval_after_fix"
    return v.next_rung or ""


def _sampled_rate_words(name: str, r: Rate) -> str:
    return (
        f"{name} its mean pass rate over {r.cases} cases was {_pct(r.rate)} "
        f"(95% CI {_pct(r.low)}–{_pct(r.high)}, clustered by case; {r.passes} of {r.n} samples)"
    )


def _sampled_lift_words(v: Verdict) -> list[str]:
    lift, agg = v.lift, v.clustered
    assert lift.value is not None and agg is not None and lift.p_value is not None
    words = [
        f"Case by case, the facts moved the pass rate by {100 * lift.value:+.0f} points on "
        f"average (95% CI {100 * lift.low:+.0f} to {100 * lift.high:+.0f}, clustered by case; "
        f"p {lift.p_value:.3g}, {'significant' if lift.significant else 'not significant'}); "
        f"{v.labelled} of {agg.cases} cases got a confident label ({v.counts['knowledge']} "
        f"fixed by the facts, {v.counts['distraction']} broken)."
    ]
    better = "more samples" if agg.more_evidence == "more_samples" else "more cases"
    words.append(
        f"{100 * agg.sampling_share:.0f}% of the lift's variance is sampling noise within "
        f"cases: sampling every arm {MAX_SAMPLES} times would take its standard error from "
        f"{100 * agg.lift_standard_error:.1f} to {100 * agg.standard_error_at_max_samples:.1f} "
        f"points, twice the cases to {100 * agg.standard_error_with_twice_the_cases:.1f}; "
        f"{better} would help more."
    )
    return words


def explain(v: Verdict) -> str:
    parts = [_HEADLINES[v.diagnosis]]
    agg = v.clustered
    observed = agg.cases if agg is not None else v.labelled
    if v.insufficient_evidence:
        parts.append(
            (
                f"Only {observed} cases were observed on both arms"
                if agg is not None
                else f"Only {v.labelled} cases got a confident label"
            )
            + "; at least 10 are needed before rung can call a rung, so what follows is "
            "description, not proof."
        )
    rates = v.pass_rates
    words = _rate_words if agg is None else _sampled_rate_words
    parts.append(
        words("Closed-book", rates["closed_book"])
        + "; "
        + words("with the facts in context", rates["open_book"])
        + "."
    )
    if agg is not None and v.lift.value is not None:
        parts.extend(_sampled_lift_words(v))
    elif v.lift.value is not None:
        parts.append(
            f"The facts fixed {v.counts['knowledge']} cases and broke "
            f"{v.counts['distraction']} (lift {100 * v.lift.value:+.0f} points, 95% CI "
            f"{100 * v.lift.low:+.0f} to {100 * v.lift.high:+.0f}; McNemar mid-p "
            f"{v.lift.mid_p:.3g}, {'significant' if v.lift.significant else 'not significant'})."
        )
    t = f"{100 * v.max_failure_rate:.0f}%"
    if not v.closed_book_provably_fails and observed:
        parts.append(
            f"Closed-book failures are not proven to exceed the acceptable {t}; "
            "not shown to fail is not the same as shown to pass."
        )
    if v.open_book_provably_fails:
        still = " still" if v.closed_book_provably_fails else ""
        parts.append(f"With the facts, failures{still} provably exceed the acceptable {t}.")
    elif observed and rates["open_book"].passes < rates["open_book"].n:
        parts.append(
            f"With the facts, failures are not proven to exceed {t}; not shown to fail is not "
            "the same as shown to pass."
        )
    if v.prompt_fix is not None:
        pf = v.prompt_fix
        parts.append(
            f"The candidate prompt passed {pf.prompt_fix_passes} of {pf.cases} failing cases "
            f"against {pf.control_passes} for a fresh re-run of the original prompt; "
            f"{pf.remaining_failures} failures remain"
            + (" (still provably too many)." if pf.provably_fails else ".")
        )
    if v.minimum_detectable_lift is not None:
        parts.append(
            f"With {observed} cases this eval can only reliably detect a lift of about "
            f"{100 * v.minimum_detectable_lift:.0f} points or more"
            + (" (at best: answers that vary within a case need more)" if agg else "")
            + "; smaller effects may be real but unproven."
        )
    if v.next_rung is not None:
        parts.append(_NEXT_STEPS[_next_step_key(v)])
    elif observed == 0:
        parts.append(
            "No case got a confident label (every case errored or was inconclusive): fix the "
            "errors or add samples before reading anything into this run."
        )
    elif v.cases_to_decide is not None:
        parts.append(
            f"If the pattern holds, about {v.cases_to_decide} "
            + ("cases" if agg is not None else "labelled cases")
            + f" in all would decide it ({max(0, v.cases_to_decide - observed)} more)."
        )
    else:
        parts.append("No realistic number of extra cases would decide it at this effect size.")
    if v.distraction_cases:
        parts.append(
            f"Warning: the facts made {len(v.distraction_cases)} case(s) worse "
            f"({', '.join(v.distraction_cases[:5])}); check the fact format and position."
        )
    if v.facts_missing_answer:
        parts.append(
            f"{len(v.facts_missing_answer)} case(s) have facts that do not contain the expected "
            f"answer ({', '.join(v.facts_missing_answer[:5])}); their behavior labels may be "
            "the facts' fault, not the model's."
        )
    if v.facts_insufficient:
        parts.append(
            f"The judge found the facts of {len(v.facts_insufficient)} case(s) insufficient to "
            f"answer ({', '.join(v.facts_insufficient[:5])}): they are inconclusive, not "
            "behavior, and left out of the verdict."
        )
    uncounted = v.counts.get("inconclusive", 0) + v.counts.get("error", 0)
    if agg is not None:
        if v.counts.get("error", 0):
            parts.append(
                f"{v.counts['error']} errored case(s) are left out; inconclusive cases count "
                "in the pass rates and the lift with their sampled rates."
            )
    elif uncounted:
        parts.append(
            f"{v.counts.get('inconclusive', 0)} inconclusive and {v.counts.get('error', 0)} "
            "errored case(s) are left out of the counts above."
        )
    if v.partial:
        parts.append("This verdict is partial: the run stopped before every case finished.")
    return " ".join(parts)
