"""The LLM judge: the prompt it gets, and reading its verdict back."""

from __future__ import annotations

import re

from app.diagnosis.grading.schemas import parse_json_answer
from app.diagnosis.grading.specs import Grade, JudgeGrader, failing, passing

JUDGE_SYSTEM_PROMPT = (
    "You grade an answer to a task. Reply with one JSON object and nothing else: "
    '{"passed": true|false, "score": <0..1>, "reason": "<one short sentence>"}.'
)


def judge_messages(spec: JudgeGrader, case_input: str, answer: str) -> list[dict[str, str]]:
    parts = [f"Task:\n{case_input}", f"Answer to grade:\n{answer}"]
    if spec.reference:
        parts.append(f"Reference answer:\n{spec.reference}")
    if spec.rubric:
        parts.append(f"Rubric:\n{spec.rubric}")
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def parse_judge_reply(reply: str) -> Grade:
    """Read a judge's verdict; anything unreadable is `unscored`, never a silent failure."""
    ok, value = parse_json_answer(reply)
    if not ok:
        match = re.search(r"\{.*\}", reply, re.DOTALL)
        ok, value = parse_json_answer(match.group(0)) if match else (False, None)
    if ok and isinstance(value, dict) and isinstance(value.get("passed"), bool):
        passed: bool = value["passed"]
        raw_score = value.get("score")
        score = float(raw_score) if isinstance(raw_score, int | float) else float(passed)
        score = min(1.0, max(0.0, score))
        reason = str(value.get("reason") or ("judge passed" if passed else "judge failed"))[:200]
        return passing(reason, score) if passed else failing("content", reason, score)
    verdict = reply.strip().upper()
    if verdict in {"PASS", "PASSED"}:
        return passing("judge passed")
    if verdict in {"FAIL", "FAILED"}:
        return failing("content", "judge failed")
    return failing("unscored", f"unreadable judge reply: {reply.strip()[:80]!r}")
