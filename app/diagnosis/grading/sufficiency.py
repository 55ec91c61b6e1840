"""Do the facts suffice to answer? The sufficient-context check, asked of the run's judge.

`facts_cover_answer` only works for literal expected answers. With a judge model, rung asks
whether a careful reader could answer the question from the facts alone: the sufficient-context
autorater of Joren et al., "Sufficient Context: A New Lens on Retrieval Augmented Generation
Systems" (ICLR 2025), whose one-shot, step-by-step form reached F1 0.93 against human labels
without seeing the expected answer. A case that fails even with facts the judge finds
insufficient is not evidence of a behavior problem: the facts are at fault.
"""

from __future__ import annotations

import json
import re

SUFFICIENCY_SYSTEM_PROMPT = """\
You decide whether a set of FACTS is enough to answer a QUESTION. The facts are sufficient if \
a careful reader could give a definitive answer using only them: several steps of reasoning \
are allowed, guesses and outside knowledge are not, and any ambiguity in the question must be \
resolved by the facts. Do not answer the question itself.
First list the step-by-step questions you would have to settle to decide, including \
assumptions hidden in the QUESTION and any arithmetic it needs. Then answer each one from the \
facts alone, working through any arithmetic. Finally decide, and end with one JSON object on \
its own line: {"sufficient": 1 or 0, "reason": "<one short sentence>"}

EXAMPLE
QUESTION: In which country was the maker of the Zorbit phone founded?
FACTS:
- The Zorbit phone is made by Halden Devices.
- Halden Devices was founded in 1998 in Tampere.
- Tampere is the third-largest city in Finland.
STEPS: Who makes the Zorbit phone? Halden Devices. Where was Halden Devices founded? In \
Tampere. Which country is Tampere in? Finland. Every step is settled by the facts.
{"sufficient": 1, "reason": "The facts chain the phone to its maker, to Tampere, to Finland."}"""

_KEYS = ("sufficient", "sufficient context")


def sufficiency_messages(question: str, facts: list[str]) -> list[dict[str, str]]:
    listed = "\n".join(f"- {fact}" for fact in facts) or "(no facts)"
    return [
        {"role": "system", "content": SUFFICIENCY_SYSTEM_PROMPT},
        {"role": "user", "content": f"QUESTION: {question}\nFACTS:\n{listed}\nSTEPS:"},
    ]


def _verdict(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


def parse_sufficiency_reply(reply: str) -> tuple[bool | None, str]:
    """The judge's decision (None when unreadable) and its reason, from its last JSON object."""
    for match in reversed(list(re.finditer(r"\{[^{}]*\}", reply))):
        try:
            value = json.loads(match.group(0))
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        fields = {str(k).strip().lower(): v for k, v in value.items()}
        found = next((fields[k] for k in _KEYS if k in fields), None)
        decided = _verdict(found)
        if decided is not None:
            reason = str(fields.get("reason") or "").strip()[:200]
            default = "the judge found the facts " + ("sufficient" if decided else "insufficient")
            return decided, reason or default
    return None, f"unreadable sufficiency judgement: {reply.strip()[:80]!r}"


def behavior_leaning(
    label: str, closed_passes: int, closed_scored: int, open_passes: int, open_scored: int
) -> bool:
    """Cases whose facts are worth checking: labelled behavior, or (sampled runs) undecided
    cases that fail more often than they pass on both arms, which count in a sampled verdict
    with their rates. With one sample per arm this is exactly the behavior label."""
    if label == "behavior":
        return True
    return (
        label == "inconclusive"
        and closed_scored > 0
        and open_scored > 0
        and 2 * closed_passes < closed_scored
        and 2 * open_passes < open_scored
    )
