"""The `rung` command, run as a subprocess the way a user runs it: `python -m app.cli ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, SENTINEL_KEY, free_port

DEMO = ROOT / "fixtures" / "demo-suite.yaml"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNG_")}
    env["RUNG_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'rung.db'}"
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; keep locations on one line
    env.update(extra)
    return env


def rung(
    tmp_path: Path, *args: str, timeout: float = 180, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=cli_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tiny_suite_file(path: Path) -> Path:
    suite = {
        "name": "tiny",
        "system_prompt": "Answer concisely.",
        "cases": [
            {
                "id": "capital",
                "input": "What is the capital of Zedland?",
                "facts": ["Zedland's capital is Qorvo.", "Zedland borders Ymir."],
                "expected": "Qorvo",
            },
            {
                "id": "json-capital",
                "input": 'Reply with JSON {"capital": ...}: what is the capital of Zedland?',
                "facts": ["Zedland's capital is Qorvo."],
                "expected": {
                    "type": "json_schema",
                    "schema": {"type": "object", "required": ["capital"]},
                },
            },
        ],
    }
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    return path


def test_help_works_without_importing_litellm(tmp_path: Path) -> None:
    result = rung(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "demo", "diagnose", "validate"):
        assert command in result.stdout

    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", "--help"],
        cwd=ROOT,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert timed.returncode == 0, timed.stderr
    assert "import time:" in timed.stderr  # the check below would pass vacuously otherwise
    assert [line for line in timed.stderr.splitlines() if "litellm" in line] == []

    probe = (
        "import sys\n"
        "from app import cli\n"
        "try:\n"
        "    cli.cli(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.exit(3 if [m for m in sys.modules if m.startswith('litellm')] else 0)\n"
    )
    checked = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, "app.cli --help imported litellm"


def test_validate(tmp_path: Path) -> None:
    good = rung(tmp_path, "validate", str(DEMO))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "24 cases" in good.stdout
    assert "valid" in good.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump(
            {
                "name": "broken",
                "cases": [
                    {"id": "a", "input": "q", "facts": ["f"], "expected": {"type": "telepathy"}},
                    {"id": "b", "input": "q", "expected": "x"},
                    {"id": "c", "input": "q", "facts": ["f"], "expected": {"type": "contains"}},
                ],
            }
        ),
        encoding="utf-8",
    )
    bad = rung(tmp_path, "validate", str(broken))
    assert bad.returncode == 2  # invalid input: the same code as `rung diagnose` gives
    output = bad.stdout + bad.stderr
    assert "cases[0].expected" in output
    assert "cases[1].facts" in output
    assert "cases[2].expected.values" in output
    assert "Traceback" not in output

    duplicate = tmp_path / "duplicate.json"
    case = {"id": "same", "input": "q", "facts": ["f"], "expected": "x"}
    duplicate.write_text(json.dumps({"name": "d", "cases": [case, case]}), encoding="utf-8")
    dup = rung(tmp_path, "validate", str(duplicate))
    assert dup.returncode == 2
    assert "cases[1].id" in dup.stdout + dup.stderr

    not_yaml = tmp_path / "garbage.yaml"
    not_yaml.write_text("name: [unclosed\n", encoding="utf-8")
    garbage = rung(tmp_path, "validate", str(not_yaml))
    assert garbage.returncode == 2
    assert "Traceback" not in garbage.stdout + garbage.stderr

    missing = rung(tmp_path, "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stdout + missing.stderr


def test_reader_demo_then_demo_again_from_cache(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    first = rung(tmp_path, "demo", "--model", "builtin/reader", "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "mixed" in first.stdout
    assert "retrieval_and_prompt_fix" in first.stdout
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert result["status"] == "succeeded"
    verdict = result["verdict"]
    assert verdict["diagnosis"] == "mixed"
    assert verdict["next_rung"] == "retrieval_and_prompt_fix"
    assert verdict["counts"]["knowledge"] == 12
    assert verdict["counts"]["behavior"] == 12
    assert verdict["summary"].strip()
    assert result["progress"]["calls_done"] == result["progress"]["calls_planned"] == 48
    assert verdict["usage"]["calls"] == 48

    again_out = tmp_path / "again.json"
    again = rung(tmp_path, "demo", "--model", "builtin/reader", "--out", str(again_out))
    assert again.returncode == 0, again.stdout + again.stderr
    again_result = json.loads(again_out.read_text(encoding="utf-8"))
    assert again_result["status"] == "succeeded"
    assert again_result["id"] != result["id"]
    assert again_result["verdict"]["usage"]["cached_calls"] == 48
    assert again_result["verdict"]["usage"]["calls"] == 48
    assert again_result["verdict"]["diagnosis"] == "mixed"
    assert again_result["verdict"]["counts"] == verdict["counts"]


def test_diagnose_with_the_builtin_reader(tmp_path: Path) -> None:
    suite = tiny_suite_file(tmp_path / "tiny.yaml")
    out = tmp_path / "result.json"
    result = rung(tmp_path, "diagnose", str(suite), "--model", "builtin/reader", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["status"] == "succeeded"
    assert body["model"] == "builtin/reader"
    assert body["verdict"]["counts"]["total"] == 2
    assert body["progress"]["calls_done"] == body["progress"]["calls_planned"] == 4
    assert body["verdict"]["diagnosis"] in result.stdout


def test_diagnose_when_the_provider_is_down(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    models.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "fake-model",
                        "litellm_params": {
                            "model": "openai/fake-model",
                            "api_base": dead,
                            "api_key": SENTINEL_KEY,
                        },
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "result.json"
    result = rung(
        tmp_path,
        "diagnose",
        str(tiny_suite_file(tmp_path / "tiny.yaml")),
        "--model",
        "fake-model",
        "--out",
        str(out),
        RUNG_MODELS_FILE=str(models),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "failed" in result.stderr
    assert "connect" in result.stderr.lower(), result.stderr
    assert "Traceback" not in output
    assert SENTINEL_KEY not in output
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["status"] == "failed"
    assert body["error"]
    assert SENTINEL_KEY not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("model", ["no-such-model", "fake-model"])
def test_diagnose_unknown_model_exits_2(tmp_path: Path, model: str) -> None:
    result = rung(tmp_path, "diagnose", str(DEMO), "--model", model)
    assert result.returncode == 2, result.stdout + result.stderr
    assert model in result.stderr
    assert "builtin/reader" in result.stderr  # the known models are listed
    assert "Traceback" not in result.stdout + result.stderr


def test_diagnose_broken_suite_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"name": "b", "cases": []}), encoding="utf-8")
    result = rung(tmp_path, "diagnose", str(broken), "--model", "builtin/reader")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cases" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_prints_user_text_verbatim(tmp_path: Path) -> None:
    suite = tmp_path / "markup.yaml"
    case = {"id": "[/x]", "input": "q", "facts": ["f"], "expected": "x"}
    suite.write_text(yaml.safe_dump({"name": "m", "cases": [case, case]}), encoding="utf-8")
    result = rung(tmp_path, "validate", str(suite))
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "MarkupError" not in output, output
    assert result.returncode == 2
    assert "cases[1].id" in output
    assert "'[/x]'" in output
