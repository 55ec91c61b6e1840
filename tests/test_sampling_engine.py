"""Sampled runs through the real engine: the runner, litellm and the fake provider on loopback.

The model here is pure noise: for every request (each sample has its own seed, so its own
request body) it answers right or wrong by a fixed coin (`stable_fraction`), with or without
the facts. The truth for every case is "undecided", and the honest verdict is behavior: with the
facts the model still fails half the time, and the facts do not help.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Engine
from tests.fakeprovider import Body, FakeProvider, message_text, stable_fraction

CASES = 60


def noise_suite(n: int = CASES) -> dict[str, Any]:
    return {
        "name": "noise",
        "cases": [
            {
                "id": f"c{i}",
                "input": f"Which code word belongs to item {i}?",
                "facts": [f"The code word for item {i} is zebra-{i}-q."],
                "expected": f"zebra-{i}-q",
            }
            for i in range(n)
        ],
    }


def coin_flip_model(body: Body) -> str:
    """Right half the time, per request, whatever the prompt holds."""
    question = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
    item = re.search(r"item (\d+)", question)
    assert item is not None
    return f"zebra-{item.group(1)}-q" if stable_fraction(body, "coin") < 0.5 else "No idea."


@pytest.mark.parametrize("samples", [5, 10])
async def test_pure_noise_gets_few_confident_labels_and_no_manufactured_lift(
    engine: Engine, fake_provider: FakeProvider, samples: int
) -> None:
    fake_provider.responder = coin_flip_model
    run = await engine.diagnose(noise_suite(), samples=samples, temperature=0.8, seed=11)
    assert run.status == "succeeded", run.error
    results = await engine.store.case_results(run.id)
    confident = sum(r.label != "inconclusive" for r in results) / CASES
    # Exact expectation 0.145 (samples 5) and 0.155 (samples 10); the posterior rule labelled
    # 0.20 and 0.34 of such cases, and the issue saw 78% on one run through the API.
    assert confident <= 0.25

    v = run.verdict
    assert (v["diagnosis"], v["next_rung"]) == ("behavior", "prompt_fix")
    assert v["lift"]["method"] == "clustered"
    assert v["lift"]["significant"] is False
    assert v["lift"]["low"] <= 0 <= v["lift"]["high"]
    assert v["open_book_provably_fails"] and v["closed_book_provably_fails"]
    for arm in ("closed_book", "open_book"):
        rate = v["pass_rates"][arm]
        assert rate["cases"] == CASES and 0.35 <= rate["rate"] <= 0.65
        assert rate["standard_error"] > 0
    clustered = v["clustered"]
    assert clustered["cases"] == CASES and clustered["samples"] == samples
    assert clustered["unbiased_cases"] == CASES
    assert clustered["sampling_share"] > 0.5  # pure noise: it is all sampling
    assert "clustered by case" in v["summary"]
    # Fewer calls than the fixed design, which would make 2 * samples per case.
    assert v["sampling"]["calls_used"] < 0.8 * v["sampling"]["calls_fixed_design"]
    print(f"samples={samples}: confident {confident:.3f}, calls {v['sampling']}")


async def test_a_sampled_runs_report_shows_the_clustered_test(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    """The report reads a sampled verdict as what it is: per-case rates, clustered by case."""
    from app.service import reports

    fake_provider.responder = coin_flip_model
    run = await engine.diagnose(noise_suite(20), samples=5, temperature=0.8, seed=3)
    assert run.status == "succeeded", run.error
    html = await reports.run_report(engine.store, run.id)
    assert "clustered by case, " in html  # the banner's reason line
    assert "p, clustered by case" in html and "Sampling noise" in html  # the lift card
    assert "McNemar mid-p" not in html
    assert "the mean of the per-case pass rates" in html  # the rates card
    assert "go undetected at n = 20" in html  # every observed case, not only the labelled
