"""The built-in real model, end to end: SmolLM2-135M-Instruct from its PyPI wheel, on this CPU.

These are the only tests that run a real language model (a minute or two in all); everything
else runs on fakes. They are skipped where the local extra is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.models.local import SMOLLM2, installed_entries
from tests.conftest import RungServer, wait_for_run
from tests.test_cli import ROOT, rung

pytestmark = pytest.mark.skipif(
    not any(e.model_name == SMOLLM2 for e in installed_entries()),
    reason="the local extra (llama-cpp-python and the SmolLM2 weights) is not installed",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """`rung demo` as the README's first line runs it: the real model, the demo suite."""
    tmp = tmp_path_factory.mktemp("smollm2")
    out = tmp / "demo.json"
    done = rung(tmp, "demo", "--out", str(out), timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp, json.loads(out.read_text(encoding="utf-8")), done.stdout + done.stderr


def test_the_demo_diagnoses_a_real_model(demo_run: tuple[Path, dict[str, Any], str]) -> None:
    _, result, output = demo_run
    assert result["model"] == SMOLLM2 and result["status"] == "succeeded", result["error"]
    assert f"on {SMOLLM2}, a real 135M-parameter model" in output
    assert result["model_params"] == {"max_tokens": 256, "model": SMOLLM2}
    verdict = result["verdict"]
    assert verdict["counts"]["total"] == 24
    assert verdict["counts"]["error"] == 0  # one request at a time: nothing times out
    assert verdict["usage"]["calls"] == 48 and verdict["usage"]["cost_usd"] == 0.0
    assert verdict["diagnosis"] in ("knowledge", "behavior", "mixed")
    answers = [
        answer
        for case in result["cases"]
        for arm in case["arms"].values()
        for answer in arm["answers"]
    ]
    assert len(answers) == 48 and all(isinstance(a, str) and a.strip() for a in answers)
    # A language model's own sentences, not the reader's verbatim facts or "I don't know.".
    assert sum(a.strip() == "I don't know." for a in answers) < 12
    assert len(set(answers)) > 40


def test_a_real_model_against_the_reader_over_rest(
    demo_run: tuple[Path, dict[str, Any], str], make_server: Any
) -> None:
    tmp, smol, _ = demo_run
    server: RungServer = make_server(
        None, RUNG_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'rung.db'}"
    )
    suite = yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8"))
    with server.client() as client:
        reader = client.post("/v1/runs", json={"suite": suite, "model": "builtin/reader"}).json()
        assert wait_for_run(client, reader["id"])["status"] == "succeeded"
        made = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": smol["id"], "candidate_run_id": reader["id"]},
        )
        assert made.status_code == 201, made.text
        comparison = made.json()
    assert comparison["baseline"]["model"] == SMOLLM2
    assert comparison["baseline"]["parameters"] == 135_000_000
    assert comparison["candidate"]["parameters"] == 0
    assert comparison["smaller_or_cheaper"] == "smaller"
    open_book = comparison["arms"]["open_book"]
    assert open_book["n"] == 24
    assert (
        open_book["fixed"]
        + open_book["regressed"]
        + open_book["both_pass"]
        + open_book["both_fail"]
        == 24
    )
    # The verdict of the distillation check follows its interval, whichever way it falls.
    assert comparison["distillable"] == (open_book["low"] > -comparison["margin"])
