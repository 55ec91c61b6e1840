"""The built-in local model's cost: load time, memory, speed, and the demo end to end.

    .venv/bin/python -m tests.benchmarks.bench_local_model [--demo]

Reports, for builtin/smollm2-135m on this CPU: the time to load the weights, resident memory
after loading and after generating, tokens per second and the latency of short and long
answers (the demo suite's own messages, closed-book and with facts), and with --demo the wall
time of `rung demo` on a fresh database. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="also time `rung demo`")
    parser.add_argument("--cases", type=int, default=8, help="demo cases to time per arm")
    args = parser.parse_args()

    from app.diagnosis.suite import FactInjection, Suite, build_messages
    from app.models.local import SMOLLM2, local_threads, runtime_for

    suite = Suite.model_validate(
        yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8"))
    )
    runtime = runtime_for(SMOLLM2)
    before = rss_mb()
    started = time.perf_counter()
    runtime.generate([{"role": "user", "content": "Say hello."}], {"max_tokens": 8})
    loaded = time.perf_counter() - started
    after_load = rss_mb()

    rows = []
    for case in suite.cases[: args.cases]:
        for arm in ("closed_book", "open_book"):
            messages = build_messages(suite.system_prompt, case, arm, FactInjection())
            reply = runtime.generate(messages, {"temperature": 0.0, "max_tokens": 256})
            rows.append(reply)
    speeds = [r.completion_tokens / r.seconds for r in rows if r.seconds > 0]
    short = [r.seconds for r in rows if r.completion_tokens <= 40]
    results = {
        "model": SMOLLM2,
        "threads": local_threads(),
        "load_s": round(loaded, 2),
        "rss_mb_before": round(before),
        "rss_mb_loaded": round(after_load),
        "rss_mb_after_generating": round(rss_mb()),
        "answers": len(rows),
        "tokens_per_s_median": round(statistics.median(speeds), 1),
        "latency_s_median": round(statistics.median(r.seconds for r in rows), 2),
        "latency_s_short_answers_median": round(statistics.median(short), 2) if short else None,
        "completion_tokens_median": statistics.median(r.completion_tokens for r in rows),
        "completion_tokens_max": max(r.completion_tokens for r in rows),
    }
    if args.demo:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "RUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/demo.db"}
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "app.cli", "demo", "--out", f"{tmp}/demo.json"],
                cwd=ROOT, env=env, check=True, capture_output=True,
            )  # fmt: skip
            results["demo_wall_s"] = round(time.perf_counter() - started, 1)
            verdict = json.loads(Path(f"{tmp}/demo.json").read_text())["verdict"]
            results["demo_diagnosis"] = [verdict["diagnosis"], verdict["next_rung"]]
            results["demo_counts"] = {k: v for k, v in verdict["counts"].items() if v}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
