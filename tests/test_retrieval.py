"""The retrieved arm: a real BM25 retriever in place of the gold facts, over HTTP and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from app.diagnosis.retrieval import RetrievalCase, build_retrieval, gold_recall
from app.retrieval.index import Index, build_index, stem
from tests.conftest import ROOT, RungServer, wait_for_run
from tests.test_cli import DEMO, rung

PASSAGES = [
    "Refunds are accepted within 45 days of delivery.",
    "Phone support is open from 8am to 6pm Central Time on weekdays.",
    "Northwind Outfitters is headquartered in Duluth, Minnesota.",
    "Store credit never expires.",
]


def test_bm25_finds_the_passage_that_answers_and_nothing_unrelated() -> None:
    index = Index.load(build_index(PASSAGES), len(PASSAGES))
    hits = index.search("How many days do customers have for a refund?", 3)
    assert hits[0].position == 0  # "refund" finds "Refunds": the stemmer folds plurals
    assert index.search("Where is the headquarters?", 1)[0].position == 2
    assert index.search("zebra quantum", 3) == []  # no shared word: nothing retrieved
    assert len(index.search("support refund credit delivery", 10)) <= len(PASSAGES)
    assert stem("refunds") == stem("refund") and stem("deliveries") == "delivery"


def test_recall_is_the_share_of_gold_facts_retrieved() -> None:
    facts = ["Refunds are accepted within 45 days of delivery.", "Store credit never expires."]
    assert gold_recall(facts, PASSAGES[:1]) == 0.5
    assert (
        gold_recall(
            facts,
            ["Policy: refunds are accepted within 45 days of delivery. Store credit never expires"],
        )
        == 1.0
    )
    assert gold_recall(facts, []) == 0.0


def test_the_aggregate_splits_what_retrieval_loses() -> None:
    cases = [
        RetrievalCase("found", False, True, True, 1.0),
        RetrievalCase("missed", False, True, False, 0.0),
        RetrievalCase("misread", False, True, False, 1.0),
        RetrievalCase("hard", False, False, False, 1.0),
    ]
    result = build_retrieval(cases, k=3, corpus_id="c")
    assert result.cases == 4 and result.recall_at_k == 0.75 and result.fully_retrieved == 3
    rates = result.pass_rates
    assert (rates["closed_book"].passes, rates["retrieved"].passes, rates["gold"].passes) == (
        0,
        1,
        3,
    )
    assert result.lift_recovered == round(1 / 3, 4)
    assert (result.not_retrieved, result.misread) == (["missed"], ["misread"])
    assert "1 fail because the facts were not retrieved" in result.summary


# --- over HTTP ----------------------------------------------------------------------------------


DEMO_SUITE: dict[str, Any] = yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text())


def test_corpora_and_the_retrieved_arm_over_http(rung_server: RungServer) -> None:
    lines = "".join(
        json.dumps({"id": f"p{i}", "text": text, "source_case": None}) + "\n"
        for i, text in enumerate(PASSAGES)
    )
    with rung_server.client() as client:
        made = client.post(
            "/v1/corpora",
            params={"name": "handbook", "format": "jsonl"},
            content=lines,
            headers={"content-type": "application/jsonl"},
        )
        assert made.status_code == 201, made.text
        corpus = made.json()
        assert corpus["passage_count"] == 4
        again = client.post(
            "/v1/corpora", params={"name": "handbook", "format": "jsonl"}, content=lines
        )
        assert (again.status_code, again.json()["id"]) == (200, corpus["id"])
        assert client.get(f"/v1/corpora/{corpus['id']}").json() == corpus
        text = client.post(
            "/v1/corpora", params={"name": "notes", "format": "text"}, content="\n\n".join(PASSAGES)
        )
        assert text.status_code == 201 and text.json()["passage_count"] == 4
        bad = client.post(
            "/v1/corpora",
            params={"name": "bad", "format": "jsonl"},
            content='{"id": 1}\nnot json\n',
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == "line 1.text"
        assert client.get("/v1/corpora/nope").status_code == 404
        unknown = client.post(
            "/v1/runs",
            json={
                "suite": DEMO_SUITE,
                "model": "builtin/reader",
                "retrieval": {"corpus_id": "nope"},
            },
        )
        assert (
            unknown.status_code == 422
            and unknown.json()["detail"][0]["loc"] == "retrieval.corpus_id"
        )

        # With no corpus named: every case's facts pooled.
        started = client.post(
            "/v1/runs", json={"suite": DEMO_SUITE, "model": "builtin/reader", "retrieval": {"k": 3}}
        )
        assert started.status_code == 202, started.text
        # The run records what it searched.
        assert started.json()["config"]["retrieval"]["corpus_id"]
        assert started.json()["progress"]["calls_planned"] == 72
        run = wait_for_run(client, started.json()["id"])
        retrieval = run["verdict"]["retrieval"]
        assert retrieval["k"] == 3 and retrieval["cases"] == 24
        assert 0 < retrieval["recall_at_k"] <= 1
        assert set(retrieval["pass_rates"]) == {"closed_book", "retrieved", "gold"}
        assert retrieval["pass_rates"]["gold"]["passes"] == 12
        assert "With BM25 retrieval (top 3)" in run["verdict"]["summary"]
        cases = client.get(f"/v1/runs/{run['id']}/cases", params={"limit": 500}).json()["items"]
        refund = next(c for c in cases if c["case_id"] == "refund-window")
        # Its first fact is the best match; one of its three facts lost its place to another's.
        assert refund["retrieved"]["passages"][0] == "refund-window#1"
        assert refund["retrieved"]["recall"] == round(2 / 3, 4)
        assert len(refund["arms"]["retrieved"]["answers"]) == 1

        # A corpus of the user's own: the handbook knows only four facts.
        own = client.post(
            "/v1/runs",
            json={"suite": DEMO_SUITE, "model": "builtin/reader",
                  "retrieval": {"corpus_id": corpus["id"], "k": 2}},
        )  # fmt: skip
        done = wait_for_run(client, own.json()["id"])
        assert done["verdict"]["retrieval"]["recall_at_k"] < retrieval["recall_at_k"]
        assert done["verdict"]["retrieval"]["not_retrieved"]


def test_the_cli_retrieved_arm_with_a_corpus_file(tmp_path: Path) -> None:
    corpus = tmp_path / "handbook.txt"
    corpus.write_text("\n\n".join(PASSAGES), encoding="utf-8")
    out = tmp_path / "r.json"
    result = rung(
        tmp_path, "diagnose", str(DEMO), "--model", "builtin/reader", "--corpus", str(corpus),
        "--retrieval-k", "2", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pass rate retrieved (top 2)" in result.stdout
    verdict = json.loads(out.read_text())["verdict"]
    assert verdict["retrieval"]["k"] == 2
