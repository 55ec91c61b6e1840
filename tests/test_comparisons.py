"""Comparing two runs: the paired statistics and decisions (pure), then over HTTP and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.diagnosis.comparison import CaseArms, RunSide, compare_arm, decide
from app.diagnosis.comparison_result import build_comparison
from app.diagnosis.stats import newcombe_paired_interval
from tests.conftest import RungServer, wait_for_run
from tests.test_cli import rung

# --- the decision against a margin ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-0.04, 0.04, "equivalent"),
        (0.06, 0.3, "better"),
        (-0.3, -0.06, "worse"),
        (-0.2, 0.2, "inconclusive"),
        (-0.05, 0.01, "inconclusive"),  # touching the margin is not inside it
    ],
)
def test_decisions_follow_the_interval(low: float, high: float, expected: str) -> None:
    assert decide(low, high, 0.05) == expected


def test_an_arm_counts_fixed_and_regressed_and_uses_newcombe() -> None:
    # baseline first: 10 both pass, 2 regressed, 6 fixed, 2 both fail
    pairs = [(True, True)] * 10 + [(True, False)] * 2 + [(False, True)] * 6 + [(False, False)] * 2
    arm = compare_arm("open_book", pairs, 0.05)
    assert (arm.both_pass, arm.regressed, arm.fixed, arm.both_fail, arm.n) == (10, 2, 6, 2, 20)
    assert arm.difference == pytest.approx(0.2)
    assert (arm.low, arm.high) == pytest.approx(newcombe_paired_interval(10, 2, 6, 2))
    assert arm.decision == "inconclusive"
    assert arm.cases_to_decide is not None and arm.cases_to_decide > 20


def test_identical_runs_are_equivalent_once_there_are_enough_cases() -> None:
    few = compare_arm("open_book", [(True, True)] * 10 + [(False, False)] * 10, 0.05)
    assert few.decision == "inconclusive" and few.not_worse is False
    many = compare_arm("open_book", [(True, True)] * 100 + [(False, False)] * 100, 0.05)
    assert many.decision == "equivalent" and many.not_worse is True


def cases(pattern: dict[str, tuple[bool, bool]]) -> list[CaseArms]:
    return [
        CaseArms(cid, {"closed_book": c, "open_book": o, "prompt_fix": None})
        for cid, (c, o) in pattern.items()
    ]


def side(model: str, parameters: int | None, cost: float | None) -> RunSide:
    return RunSide(
        model=model, parameters=parameters, tokens=4000, latency_ms=8000.0, cost_usd=cost
    )


def test_a_smaller_model_as_good_with_facts_can_take_the_task() -> None:
    both = {f"c{i}": (False, True) for i in range(150)} | {
        f"d{i}": (False, False) for i in range(50)
    }
    result = build_comparison(
        cases(both),
        cases(both),
        side("big", 7_000_000_000, 0.02),
        side("small", 135_000_000, 0.002),
        0.05,
    )
    assert result.decision == "equivalent"
    assert result.smaller_or_cheaper == "smaller_and_cheaper"
    assert result.distillable is True
    assert result.saving["cost"] == pytest.approx(0.9)
    assert "distilled or routed" in result.summary


def test_regressions_are_listed_and_block_routing() -> None:
    baseline = {f"c{i}": (False, True) for i in range(30)}
    candidate = dict(baseline) | {f"c{i}": (False, False) for i in range(12)}
    result = build_comparison(
        cases(baseline), cases(candidate), side("big", 10, None), side("small", 1, None), 0.05
    )
    assert result.arms["open_book"].regressed == 12
    assert [c.case_id for c in result.regressions] == [f"c{i}" for i in range(12)]
    assert result.decision == "worse" and result.distillable is False
    assert "do not route" in result.summary


# --- over HTTP and the CLI ----------------------------------------------------------------------


def small_suite(n: int = 12) -> dict[str, Any]:
    return {
        "name": "compare",
        "cases": [
            {"id": f"c{i}", "input": f"Code of item {i}?", "facts": [f"Item {i} has code K{i}."],
             "expected": f"K{i}"}
            for i in range(n)
        ],
    }  # fmt: skip


def run_on(client: Any, model: str, suite: dict[str, Any], **options: Any) -> dict[str, Any]:
    started = client.post("/v1/runs", json={"suite": suite, "model": model, **options})
    assert started.status_code == 202, started.text
    return wait_for_run(client, started.json()["id"])


def test_comparisons_over_http(rung_server: RungServer, fake_provider: Any) -> None:
    with rung_server.client() as client:
        reader = run_on(client, "builtin/reader", small_suite())
        fake = run_on(client, "fake-model", small_suite())
        made = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": fake["id"], "candidate_run_id": reader["id"], "margin": 0.1},
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["arms"]["open_book"]["n"] == 12
        assert body["candidate"]["model"] == "builtin/reader"
        assert body["candidate"]["parameters"] == 0
        assert client.get(f"/v1/comparisons/{body['id']}").json() == body
        again = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": fake["id"], "candidate_run_id": reader["id"], "margin": 0.1},
        )
        assert again.json()["id"] == body["id"]  # finished runs don't change: made once

        other = run_on(client, "builtin/reader", small_suite(13))
        apart = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": fake["id"], "candidate_run_id": other["id"]},
        )
        assert apart.status_code == 422 and apart.json()["detail"][0]["loc"] == "candidate_run_id"
        missing = client.post(
            "/v1/comparisons", json={"baseline_run_id": "nope", "candidate_run_id": reader["id"]}
        )
        assert (
            missing.status_code == 422 and missing.json()["detail"][0]["loc"] == "baseline_run_id"
        )
        assert client.get("/v1/comparisons/nope").status_code == 404
        bad_margin = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": fake["id"], "candidate_run_id": reader["id"], "margin": 2},
        )
        assert bad_margin.status_code == 422 and bad_margin.json()["detail"][0]["loc"] == "margin"

        fake_provider.delay = 1.0
        slow = client.post(
            "/v1/runs", json={"suite": small_suite(), "model": "fake-model", "cache": False}
        )
        busy = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": fake["id"], "candidate_run_id": slow.json()["id"]},
        )
        assert busy.status_code == 409
        client.post(f"/v1/runs/{slow.json()['id']}/cancel")


def test_rung_compare_prints_the_decision_and_can_gate(tmp_path: Path) -> None:
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps(small_suite()), encoding="utf-8")
    ids = []
    for _ in range(2):
        out = tmp_path / "r.json"
        done = rung(
            tmp_path, "diagnose", str(suite), "--model", "builtin/reader", "--out", str(out)
        )
        assert done.returncode == 0, done.stderr
        ids.append(json.loads(out.read_text())["id"])
    compared = tmp_path / "c.json"
    result = rung(tmp_path, "compare", ids[0], ids[1], "--out", str(compared), "--fail-if-worse")
    assert result.returncode == 0, result.stderr
    assert "decision:" in result.stdout
    body = json.loads(compared.read_text())
    assert body["regressions"] == [] and body["arms"]["open_book"]["fixed"] == 0
    bad = rung(tmp_path, "compare", ids[0], "no-such-run")
    assert bad.returncode == 2 and "no run with id" in bad.stderr


def test_diagnose_fails_if_worse_than_a_baseline_run(tmp_path: Path, fake_provider: Any) -> None:
    """A CI gate on "not worse than the current one": exit 4 when the candidate is worse."""
    from tests.conftest import write_models_file

    suite = tmp_path / "s.json"
    suite.write_text(json.dumps(small_suite(30)), encoding="utf-8")
    out = tmp_path / "base.json"
    base = rung(tmp_path, "diagnose", str(suite), "--model", "builtin/reader", "--out", str(out))
    assert base.returncode == 0, base.stderr
    baseline = json.loads(out.read_text())["id"]

    models = write_models_file(tmp_path / "models.yaml", fake_provider)
    fake_provider.responder = lambda body: "I don't know."  # loses every case the reader wins
    worse = rung(
        tmp_path, "diagnose", str(suite), "--model", "fake-model", "--fail-if-worse", baseline,
        RUNG_MODELS_FILE=str(models),
    )  # fmt: skip
    assert worse.returncode == 4, worse.stdout + worse.stderr
    assert f"gate: worse than {baseline}" in worse.stderr
    same = rung(
        tmp_path, "diagnose", str(suite), "--model", "builtin/reader", "--fail-if-worse", baseline
    )
    assert same.returncode == 0, same.stdout + same.stderr
