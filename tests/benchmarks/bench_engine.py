"""Engine benchmark: the service against a bare litellm loop, on one loopback provider.

    .venv/bin/python -m tests.benchmarks.bench_engine [--cases 1000] [--concurrency 64]
        [--latency 0.05] [--workers 2] [--memory-cases 20000]

Reports, from one run: wall time from POST to verdict; the wall time of a bare
`litellm.acompletion` asyncio loop at the same concurrency against the same server; the ideal
(calls x latency / concurrency); p99 latency of GET /v1/runs/{id} polled 10 times a second during
the run; and, with --memory-cases, the peak resident memory of the service (API + workers)
while it diagnoses a suite that large. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
}


def start_provider(latency: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeprovider", "--port", "0", "--delay", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def suite(cases: int) -> dict[str, Any]:
    return {
        "name": f"bench-{cases}",
        "system_prompt": "Answer from the facts.",
        "cases": [
            {
                "id": f"c{i}",
                "input": f"What is the code of item {i}?",
                "facts": [f"Item {i} has code K{i}."],
                "expected": f"K{i}",
            }
            for i in range(cases)
        ],
    }


BARE_LOOP = textwrap.dedent(
    """
    import asyncio, os, sys, time
    import litellm
    litellm.suppress_debug_info = True
    base, calls, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    async def main():
        sem = asyncio.Semaphore(concurrency)
        async def one(i):
            async with sem:
                await litellm.acompletion(
                    model="openai/bench", api_base=base, api_key="sk-bench",
                    messages=[{"role": "user", "content": f"What is the code of item {i}?"}],
                    num_retries=0, max_retries=0)
        await one(-1)  # warm-up: first-call setup is not the loop's cost
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        print(time.perf_counter() - start)
    asyncio.run(main())
    """
)


def bare_litellm(base_url: str, calls: int, concurrency: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", BARE_LOOP, base_url, str(calls), str(concurrency)],
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: resident pages, each shared page divided among its sharers, so
    the sum over processes is the memory the service really holds (RSS counts shared pages
    once per process)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_pids(root_pid: int) -> list[int]:
    """The server and all its descendants: the first worker forks the others."""
    found, frontier = [root_pid], [root_pid]
    while frontier:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", ",".join(map(str, frontier))], capture_output=True
        )
        frontier = [int(p) for p in out.stdout.split()]
        found.extend(frontier)
    return found


class Service:
    def __init__(self, tmp: Path, base_url: str, workers: int, concurrency: int) -> None:
        models = tmp / "models.yaml"
        models.write_text(
            yaml.safe_dump(
                {
                    "model_list": [
                        {
                            "model_name": "bench",
                            "litellm_params": {
                                "model": "openai/bench",
                                "api_base": base_url,
                                "api_key": "sk-bench",
                                "max_parallel_requests": concurrency,
                            },
                        }
                    ]
                }
            )
        )
        self.port = 18000 + os.getpid() % 1000
        env = {
            **os.environ,
            **OFFLINE,
            "RUNG_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL")
            or f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
            "RUNG_MODELS_FILE": str(models),
            "RUNG_POLL_SECONDS": "0.1",
            "RUNG_MAX_BODY_BYTES": str(200 * 1024 * 1024),
        }
        self.log_path = tmp / "server.log"
        self.log = self.log_path.open("w")
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        if workers:
            command += ["--workers", str(workers)]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        workers = workers or os.cpu_count() or 1  # rung serve's default
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        # A running service's workers have imported litellm: wait for every "worker ready".
        while self.log_path.read_text().count("worker ready") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not get ready")
            time.sleep(0.1)

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        latencies: list[float] = []
        peak = 0.0
        peak_pss = 0.0
        start = time.perf_counter()
        response = self.client.post("/v1/runs", json=body)
        response.raise_for_status()
        run_id = response.json()["id"]
        pids = service_pids(self.proc.pid)
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        peak_by_pid = dict.fromkeys(pids, 0.0)
        peak_pss_by_pid = dict.fromkeys(pids, 0.0)
        while True:
            t0 = time.perf_counter()
            state = self.client.get(f"/v1/runs/{run_id}").json()
            latencies.append(time.perf_counter() - t0)
            now = {pid: rss_mb(pid) for pid in pids}
            peak = max(peak, sum(now.values()))
            pss_now = {pid: pss_mb(pid) for pid in pids}
            peak_pss = max(peak_pss, sum(pss_now.values()))
            peak_pss_by_pid = {pid: max(peak_pss_by_pid[pid], pss_now[pid]) for pid in pids}
            peak_by_pid = {pid: max(peak_by_pid[pid], now[pid]) for pid in pids}
            if state["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
        wall = time.perf_counter() - start
        cpu = {pid: round(cpu_seconds(pid) - cpu_before[pid], 2) for pid in pids}
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        return {
            "status": state["status"],
            "wall_s": wall,
            "polls": len(latencies),
            "get_p50_ms": 1000 * statistics.median(latencies),
            "get_p99_ms": 1000 * p99,
            "peak_rss_mb": peak,
            "peak_pss_mb": peak_pss,
            "peak_rss_mb_per_process": {pid: round(mb) for pid, mb in peak_by_pid.items()},
            "peak_pss_mb_per_process": {pid: round(mb) for pid, mb in peak_pss_by_pid.items()},
            "cpu_s_per_process": cpu,
            "calls": state["progress"]["calls_done"],
            "diagnosis": (state["verdict"] or {}).get("diagnosis"),
        }

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        if os.environ.get("BENCH_SHOW_LOG"):
            lines = self.log_path.read_text().splitlines()
            print("\n".join(line for line in lines if "GET /v1" not in line)[-5000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--workers", type=int, default=0, help="worker processes (0: rung serve's default)"
    )
    parser.add_argument("--memory-cases", type=int, default=0)
    args = parser.parse_args()
    calls = args.cases * 2
    provider, port = start_provider(args.latency)
    base_url = f"http://127.0.0.1:{port}/v1"
    results: dict[str, Any] = {"calls": calls, "concurrency": args.concurrency}
    try:
        results["ideal_s"] = calls * args.latency / args.concurrency
        results["bare_litellm_s"] = bare_litellm(base_url, calls, args.concurrency)
        with tempfile.TemporaryDirectory() as tmp:
            service = Service(Path(tmp), base_url, args.workers, args.concurrency)
            try:
                body = {"suite": suite(args.cases), "model": "bench", "cache": False,
                        "max_concurrency": args.concurrency}  # fmt: skip
                results["service"] = service.run(body)
                if args.memory_cases:
                    body["suite"] = suite(args.memory_cases)
                    results["memory_run"] = service.run(body)
            finally:
                service.stop()
    finally:
        provider.terminate()
        provider.wait(10)
    svc = results["service"]
    results["service_vs_bare"] = svc["wall_s"] / results["bare_litellm_s"]
    print(json.dumps(results, indent=2))
    print(
        f"\n{calls} calls at concurrency {args.concurrency}, {1000 * args.latency:.0f} ms latency:"
        f"\n  service POST→verdict  {svc['wall_s']:.2f} s  ({svc['status']}, {svc['calls']} calls)"
        f"\n  bare litellm loop     {results['bare_litellm_s']:.2f} s"
        f"\n  ideal                 {results['ideal_s']:.2f} s"
        f"\n  service / bare        {results['service_vs_bare']:.2f}x  (target ≤ 0.8x)"
        f"\n  GET /v1/runs/{{id}} p99 {svc['get_p99_ms']:.1f} ms over {svc['polls']} polls"
        " (target < 100 ms)"
    )
    if "memory_run" in results:
        mem = results["memory_run"]
        print(
            f"  {args.memory_cases} cases: peak memory {mem['peak_pss_mb']:.0f} MB (PSS, target"
            f" < 500 MB; RSS summed per process {mem['peak_rss_mb']:.0f} MB), "
            f"{mem['wall_s']:.1f} s, {mem['status']}"
        )


if __name__ == "__main__":
    threading.stack_size(0)
    main()
