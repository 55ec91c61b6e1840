"""Request examples for Swagger UI that a newcomer can execute as they are.

They use the demo suite in fixtures/ and `builtin/reader`, which needs no provider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The checkout's fixtures/ (editable installs), else the working directory's (the container).
DEMO_SUITE_PATHS = (
    Path(__file__).resolve().parents[2] / "fixtures" / "demo-suite.yaml",
    Path("fixtures") / "demo-suite.yaml",
)

_FALLBACK: dict[str, Any] = {
    "name": "tiny",
    "system_prompt": "Answer concisely.",
    "cases": [
        {
            "id": "refund-window",
            "input": "How many days do customers have to return an order?",
            "facts": ["Refunds are accepted within 45 days of delivery."],
            "expected": "45 days",
        }
    ],
}


def _demo_suite() -> dict[str, Any]:
    for path in DEMO_SUITE_PATHS:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        if isinstance(data, dict):
            return data
    return _FALLBACK


SUITE_EXAMPLE = _demo_suite()

RUN_EXAMPLES: dict[str, Any] = {
    "demo": {
        "summary": "The demo suite against the built-in offline reader",
        "value": {"suite": SUITE_EXAMPLE, "model": "builtin/reader"},
    },
    "with_prompt_fix": {
        "summary": "Also try a candidate prompt on the cases that fail with facts",
        "value": {
            "suite": SUITE_EXAMPLE,
            "model": "builtin/reader",
            "candidate_prompt": "Always reply with JSON when the user asks for JSON.",
            "injection": {"position": "system", "format": "tagged"},
        },
    },
    "stored_suite": {
        "summary": "A suite stored earlier with POST /v1/suites",
        "value": {"suite_id": "paste-an-id-from-POST-/v1/suites", "model": "builtin/reader"},
    },
}
