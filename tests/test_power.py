"""Power before spending: app.diagnosis.power, POST /v1/runs/estimate and `rung estimate`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.diagnosis.power import Z_POWER, detectable, noisy_detectable_lift, plan_power
from app.diagnosis.stats import Z95, minimum_detectable_lift
from tests.conftest import RungServer
from tests.fakeprovider import FakeProvider
from tests.test_cli import rung

C = Z95 + Z_POWER  # 2.8016


def suite(n: int) -> dict[str, Any]:
    return {
        "name": f"power-{n}",
        "cases": [
            {"id": f"c{i}", "input": f"Code word {i}?", "facts": [f"It is w{i}."],
             "expected": f"w{i}"}
            for i in range(n)
        ],
    }  # fmt: skip


def test_noisy_bound_solves_the_planning_equation_by_hand() -> None:
    # n = 30, k = 5: d^2 (30 / C^2 + 1) - d - 0.1 = 0 -> d = (1 + sqrt(1 + 0.4 a)) / (2 a).
    a = 30 / C**2 + 1
    d = (1 + math.sqrt(1 + 4 * a * 0.1)) / (2 * a)
    assert noisy_detectable_lift(30, 5) == pytest.approx(math.ceil(d * 1000) / 1000)
    # ... and that d is where the lift equals C standard errors.
    assert d == pytest.approx(C * math.sqrt((d * (1 - d) + 0.5 / 5) / 30))


def test_more_samples_help_only_down_to_the_consistent_floor() -> None:
    lifts = [detectable(50, k, varies=True) for k in (1, 2, 5, 10, 20)]
    assert lifts == sorted(lifts, reverse=True)
    floor = minimum_detectable_lift(50)
    assert floor is not None and all(x is not None and x >= floor for x in lifts)
    assert noisy_detectable_lift(50, 10**9) == pytest.approx(
        (1 / (2 * (50 / C**2 + 1)) * 2), abs=0.002
    )  # no sampling noise left: only the spread between cases


def test_temperature_zero_plans_with_the_exact_floor() -> None:
    p = plan_power(30, 5, temperature=0.0, target_lift=0.2)
    assert p.minimum_detectable_lift == p.minimum_detectable_lift_if_consistent
    assert p.minimum_detectable_lift == minimum_detectable_lift(30)
    assert p.cases_for_target == p.cases_for_target_if_consistent
    assert "only more cases help" in p.summary


def test_target_lift_gives_cases_and_samples() -> None:
    p = plan_power(24, 5, temperature=0.8, target_lift=0.3)
    assert p.cases_for_target is not None and p.cases_for_target_if_consistent is not None
    assert p.cases_for_target_if_consistent <= p.cases_for_target
    lift = detectable(p.cases_for_target, 5, True)
    assert lift is not None and lift <= 0.3
    before = detectable(p.cases_for_target - 1, 5, True)
    assert before is None or before > 0.3
    assert p.samples_for_target is not None
    assert (detectable(24, p.samples_for_target, True) or 1) <= 0.3
    assert (detectable(24, p.samples_for_target - 1, True) or 1) > 0.3
    # A lift the suite can never prove by sampling alone: only cases.
    hard = plan_power(24, 5, temperature=0.8, target_lift=0.1)
    assert hard.samples_for_target is None
    assert "no number of samples up to 20" in hard.summary


def test_the_estimate_endpoint_says_what_a_suite_can_prove(
    rung_server: RungServer, fake_provider: FakeProvider
) -> None:
    with rung_server.client() as client:
        body = {"suite": suite(24), "model": "fake-model", "samples": 5, "temperature": 0.8,
                "target_lift": 0.3}  # fmt: skip
        response = client.post("/v1/runs/estimate", json=body)
        assert response.status_code == 200, response.text
        power = response.json()["power"]
        assert power == plan_power(24, 5, 0.8, 0.3).model_dump(mode="json")
        assert power["cases"] == 24 and power["samples"] == 5
        assert power["minimum_detectable_lift"] > power["minimum_detectable_lift_if_consistent"]
        assert power["samples_for_target"] is not None

        plain = client.post("/v1/runs/estimate", json={"suite": suite(10), "model": "fake-model"})
        assert plain.status_code == 200
        assert plain.json()["power"]["target_lift"] is None
        assert plain.json()["power"]["minimum_detectable_lift"] == minimum_detectable_lift(10)

        bad = client.post("/v1/runs/estimate", json={**body, "target_lift": 1.5})
        assert bad.status_code == 422
        assert str(bad.json()["detail"][0]["loc"]).endswith("target_lift")
        # target_lift belongs to the estimate, not to a run.
        refused = client.post("/v1/runs", json=body)
        assert refused.status_code == 422
        assert "target_lift" in refused.text

        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert "minimum_detectable_lift_if_consistent" in schema["Power"]["properties"]
        assert "clustered" in schema["RunVerdict"]["properties"]
        clustered = schema["ClusteredAggregate"]["properties"]
        assert {"lift_standard_error", "sampling_share", "more_evidence"} <= set(clustered)
        assert set(schema["Lift"]["properties"]) >= {"method", "p_value", "standard_error"}
    assert fake_provider.requests == 0


def test_rung_estimate_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite(24)), encoding="utf-8")
    args = ("estimate", str(path), "--model", "builtin/reader", "--samples", "5",
            "--temperature", "0.8", "--target-lift", "0.3")  # fmt: skip
    shown = rung(tmp_path, *args)
    assert shown.returncode == 0, shown.stderr
    assert "24 cases at 5 sample(s) per arm can detect a lift of about" in shown.stdout
    as_json = rung(tmp_path, *args, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["power"] == plan_power(24, 5, 0.8, 0.3).model_dump(
        mode="json"
    )
    bad = rung(tmp_path, "estimate", str(path), "--model", "builtin/reader", "--target-lift", "2")
    assert bad.returncode == 2
    assert "--target-lift" in bad.stderr
