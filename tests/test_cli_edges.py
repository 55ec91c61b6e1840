"""The CLI's edges as a user meets them: bad settings, help text, Ctrl-C, a server beside it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, RungServer, write_models_file
from tests.fakeprovider import FakeProvider
from tests.test_cli import DEMO, cli_env, rung

COMMANDS = [
    ("demo",),
    ("diagnose", str(DEMO), "--model", "builtin/reader"),
    ("serve", "--port", "1"),
    ("resume", "0" * 32),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("RUNG_MODELS_FILE", "/nonexistent/models.yaml", "RUNG_MODELS_FILE"),
        ("RUNG_RUN_SLICES", "many", "RUNG_RUN_SLICES"),
        ("RUNG_DEFAULT_CONCURRENCY", "0", "RUNG_DEFAULT_CONCURRENCY"),
        ("RUNG_WEBHOOK_SECRET", "not-a-whsec-secret", "RUNG_WEBHOOK_SECRET"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], variable: str, value: str, named: str
) -> None:
    result = rung(tmp_path, *args, timeout=60, **{variable: value})
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "Traceback" not in result.stderr
    assert "errors.pydantic.dev" not in result.stderr


def test_a_broken_model_list_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"model_list": [{"model_name": "x"}]}), encoding="utf-8")
    result = rung(tmp_path, "demo", RUNG_MODELS_FILE=str(models))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "model_list[0]" in result.stderr and "litellm_params" in result.stderr
    assert "errors.pydantic.dev" not in result.stderr and "[type=" not in result.stderr

    models.write_text("model_list: [unclosed\n", encoding="utf-8")
    result = rung(tmp_path, "demo", RUNG_MODELS_FILE=str(models))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_help_keeps_its_defaults_and_bad_flags_are_named(tmp_path: Path) -> None:
    serve = rung(tmp_path, "serve", "--help")
    text = " ".join(serve.stdout.split())  # the help is wrapped to the terminal
    assert "[default: 0.0.0.0 with API keys, else 127.0.0.1]" in text
    assert "[default: the number of CPUs]" in text

    bad = rung(tmp_path, "diagnose", str(DEMO), "--model", "builtin/reader", "--samples", "99")
    assert bad.returncode == 2
    assert "--samples" in bad.stderr and "20" in bad.stderr
    assert "errors.pydantic.dev" not in bad.stderr and "Traceback" not in bad.stderr
    version = rung(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("rung ")


def test_the_verdict_never_prints_none(tmp_path: Path) -> None:
    result = rung(tmp_path, "demo", "--model", "builtin/reader")
    assert result.returncode == 0, result.stderr
    assert "None" not in result.stdout


def slow_models(tmp_path: Path, provider: FakeProvider) -> Path:
    return write_models_file(tmp_path / "models.yaml", provider)


def test_ctrl_c_stops_cleanly_and_resume_finishes_without_repeating_calls(
    tmp_path: Path, fake_provider: FakeProvider, make_server: Any
) -> None:
    """Ctrl-C: one line, exit 130, the run kept. A server on the same database (which has no
    such model) does not take the run over; `rung resume` finishes it."""
    fake_provider.delay = 0.2
    models = slow_models(tmp_path, fake_provider)
    server: RungServer = make_server(None)  # same database, no model list: knows builtin only
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "diagnose", str(DEMO), "--model", "fake-model"],
        cwd=ROOT,
        env=cli_env(
            tmp_path,
            RUNG_MODELS_FILE=str(models),
            RUNG_DATABASE_URL=server.env["RUNG_DATABASE_URL"],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("run "), first
    run_id = first.split()[1]
    deadline = time.monotonic() + 30
    while fake_provider.requests < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    # Off a terminal the progress comes as plain lines ("12/48 calls ..."); the stop is one.
    said = [line for line in err.splitlines() if line.strip() and " calls (" not in line]
    assert said == [f"interrupted: run {run_id} stopped; finish it with: rung resume {run_id}"]
    made = fake_provider.requests

    time.sleep(2)  # the server's worker polls every 0.1 s: it must leave the run alone
    with httpx.Client(base_url=server.url) as client:
        run = client.get(f"/v1/runs/{run_id}").json()
    assert run["status"] in ("queued", "running"), run
    assert "unknown model" not in (run["error"] or "")

    out_file = tmp_path / "resumed.json"
    resumed = rung(tmp_path, "resume", run_id, "--out", str(out_file), RUNG_MODELS_FILE=str(models),
                   RUNG_DATABASE_URL=server.env["RUNG_DATABASE_URL"])  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    body = json.loads(out_file.read_text())
    assert body["status"] == "succeeded"
    assert body["progress"]["calls_done"] == 48
    # Stored calls were not made again: only those in flight at the interrupt (at most the
    # run's concurrency, 8) could be paid twice.
    assert made < 48
    assert 48 <= fake_provider.requests <= 48 + 8
