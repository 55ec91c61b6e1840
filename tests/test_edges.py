"""Edges a new user hits, each over real HTTP or the real CLI: no 500, no traceback, no loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, RungServer, wait_for_run
from tests.test_postgres import pg_url  # noqa: F401  (a fixture, looked up by name)

DEMO: dict[str, Any] = yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text())


def small_suite(name: str = "edges", n: int = 3, **extra: Any) -> dict[str, Any]:
    cases = [
        {
            "id": f"c{i}",
            "input": f"Code of item {i}?",
            "facts": [f"Item {i} is K{i}."],
            "expected": f"K{i}",
        }
        for i in range(n)
    ]
    return {"name": name, "cases": cases, **extra}


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest, make_server: Any, tmp_path: Path) -> RungServer:
    """`rung serve` on SQLite and on PostgreSQL (what compose.yaml deploys)."""
    if request.param == "sqlite":
        server: RungServer = make_server()
        return server
    server = make_server(RUNG_DATABASE_URL=request.getfixturevalue("pg_url"))
    return server


# --- 1. NUL characters ------------------------------------------------------------------------


def test_nul_characters_are_refused_where_they_are(any_server: RungServer) -> None:
    with any_server.client() as client:
        bad_suite = small_suite()
        bad_suite["cases"][1]["input"] = "Code of\u0000 item?"
        stored = client.post("/v1/suites", json=bad_suite)
        assert stored.status_code == 422, stored.text
        assert stored.json()["detail"] == [
            {"loc": "cases[1].input", "msg": "must not contain the NUL character (\\u0000)"}
        ]
        inline = client.post("/v1/runs", json={"suite": bad_suite, "model": "builtin/reader"})
        assert inline.status_code == 422
        assert inline.json()["detail"][0]["loc"] == "suite.cases[1].input"
        named = client.post("/v1/runs", json={"suite_id": "x", "model": "builtin/\u0000reader"})
        assert named.status_code == 422
        assert named.json()["detail"][0]["loc"] == "model"
        meta = client.post(
            "/v1/runs",
            json={"suite": small_suite(), "model": "builtin/reader", "metadata": {"k": "\u0000"}},
        )
        assert meta.status_code == 422
        assert meta.json()["detail"][0]["loc"] == "metadata.k"

        for path in ("/v1/runs/ab%00cd", "/v1/suites/ab%00cd", "/v1/runs/ab%00/cases"):
            assert client.get(path).status_code == 404, path
        assert client.post("/v1/runs/x%00/cancel").status_code == 404
        assert client.delete("/v1/suites/x%00").status_code == 404
        for query in ("/v1/suites?cursor=a%00", "/v1/runs?model=a%00", "/v1/runs?cursor=%00"):
            answer = client.get(query)
            assert answer.status_code == 422, query
            assert answer.json()["detail"][0]["msg"].startswith("must not contain")

        # Nothing was stored, and the service still works.
        assert client.get("/v1/suites").json()["items"] == []
        run = client.post("/v1/runs", json={"suite": small_suite(), "model": "builtin/reader"})
        assert wait_for_run(client, run.json()["id"])["status"] == "succeeded"


# --- 2. graders that cannot run are refused up front; one case's grading never fails a run ---


def test_an_unresolvable_ref_is_a_422_before_anything_runs(rung_server: RungServer) -> None:
    suite = small_suite()
    suite["cases"][2]["expected"] = {"type": "json_schema", "schema": {"$ref": "#/$defs/nope"}}
    with rung_server.client() as client:
        for path, body, loc in (
            ("/v1/suites", suite, "cases[2].expected.schema"),
            (
                "/v1/runs",
                {"suite": suite, "model": "builtin/reader"},
                "suite.cases[2].expected.schema",
            ),
        ):
            answer = client.post(path, json=body)
            assert answer.status_code == 422, answer.text
            assert [p["loc"] for p in answer.json()["detail"]] == [loc]
        assert client.get("/v1/runs").json()["items"] == []


def test_a_pathological_pattern_costs_one_case_not_the_run(rung_server: RungServer) -> None:
    suite = small_suite(n=12)
    suite["cases"][0]["expected"] = {"type": "regex", "pattern": "(a|aa)+$"}
    evil = "a" * 60 + "b"  # the reader answers with this fact when asked for it
    suite["cases"][0]["facts"] = [evil]
    suite["cases"][0]["input"] = f"Repeat {evil}"
    with rung_server.client() as client:
        run = client.post("/v1/runs", json={"suite": suite, "model": "builtin/reader"}).json()
        done = wait_for_run(client, run["id"])
        assert done["status"] == "succeeded", done
        assert done["verdict"]["counts"]["error"] == 1
        cases = client.get(f"/v1/runs/{run['id']}/cases", params={"label": "error"}).json()
        grade = cases["items"][0]["arms"]["open_book"]["grades"][0]
        assert grade["kind"] == "unscored" and "catastrophic backtracking" in grade["reason"]


# --- 9. health says up or down; the model list is behind the key ------------------------------


def test_health_tells_nothing_and_models_need_the_key(make_server: Any, models_file: Path) -> None:
    server = make_server(models_file, RUNG_API_KEYS="k-edges")
    with server.client() as client:
        health = client.get("/healthz")
        assert health.json() == {"status": "ok"}
        assert client.get("/v1/models").status_code == 401
        listed = client.get("/v1/models", headers={"Authorization": "Bearer k-edges"})
        names = [m["model_name"] for m in listed.json()["items"]]
        assert {"builtin/reader", "fake-model", "fake-judge"} <= set(names)
        assert "api_base" not in listed.text and "SENTINEL" not in listed.text


# --- 10. suites are stored once, can be deleted; only JSON bodies are read as JSON -------------


def test_a_suite_posted_again_is_the_same_suite(rung_server: RungServer) -> None:
    with rung_server.client() as client:
        first = client.post("/v1/suites", json=small_suite())
        again = client.post("/v1/suites", json=small_suite())
        changed = client.post("/v1/suites", json=small_suite(description="other"))
        assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 201)
        assert first.json()["id"] == again.json()["id"] != changed.json()["id"]
        assert len(client.get("/v1/suites").json()["items"]) == 2


def test_deleting_a_suite_keeps_what_runs_need(rung_server: RungServer) -> None:
    with rung_server.client() as client:
        suite_id = client.post("/v1/suites", json=small_suite()).json()["id"]
        run = client.post("/v1/runs", json={"suite_id": suite_id, "model": "builtin/reader"})
        wait_for_run(client, run.json()["id"])

        refused = client.delete(f"/v1/suites/{suite_id}")
        assert refused.status_code == 409
        assert "with_runs=true" in refused.json()["detail"]
        assert client.get(f"/v1/runs/{run.json()['id']}").status_code == 200

        assert (
            client.delete(f"/v1/suites/{suite_id}", params={"with_runs": "true"}).status_code == 204
        )
        assert client.get(f"/v1/suites/{suite_id}").status_code == 404
        assert client.get(f"/v1/runs/{run.json()['id']}").status_code == 404
        assert client.delete(f"/v1/suites/{suite_id}").status_code == 404


def test_a_suite_in_use_by_a_live_run_is_not_deleted(
    make_server: Any, models_file: Path, fake_provider: Any
) -> None:
    fake_provider.delay = 0.5
    server = make_server(models_file)
    with server.client() as client:
        suite_id = client.post("/v1/suites", json=small_suite(n=12)).json()["id"]
        run = client.post("/v1/runs", json={"suite_id": suite_id, "model": "fake-model"}).json()
        refused = client.delete(f"/v1/suites/{suite_id}", params={"with_runs": "true"})
        assert refused.status_code == 409
        assert "queued or running" in refused.json()["detail"]
        client.post(f"/v1/runs/{run['id']}/cancel")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/suites"), ("POST", "/v1/runs"), ("POST", "/v1/runs/estimate")],
)
def test_a_body_that_is_not_sent_as_json_is_415(
    rung_server: RungServer, method: str, path: str
) -> None:
    body = yaml.safe_dump(small_suite())
    with rung_server.client() as client:
        for content_type in ("text/yaml", "application/x-www-form-urlencoded", "text/plain"):
            answer = client.request(
                method, path, content=body, headers={"content-type": content_type}
            )
            assert answer.status_code == 415, (content_type, answer.text)
            assert "application/json" in answer.json()["detail"]
        # A JSON media type with parameters, or none at all, is still read as JSON.
        ok = client.request(
            "POST",
            "/v1/suites",
            content=httpx.Request("POST", "/", json=small_suite()).read(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
        assert ok.status_code in (200, 201)
