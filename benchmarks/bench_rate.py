"""500 creates under the team's rate limit: an emulator answering 429 beyond 10 API requests a second,
with 2 s of processing per import, and `websets-reconciler apply` at its default parallelism and budget.

Figures, each with its goal:
- API requests per create (uploads excluded: they go to the object store): <= 1.2
- 429s met: 0;  failed creates: 0;  runs to converge: 1
- wall time vs the rate floor (API requests / budget + the processing time): <= 1.3 x
Takes about 60-80 s. Run: .venv/bin/python benchmarks/bench_rate.py [--imports 500] [--rps-limit 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchkit import API_KEY, command, make_repo

from reconciler.emulator.process import emulator_process
from reconciler.remote.client import DEFAULT_MAX_RPS

MAX_RUNS = 5


def run(base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": base_url}
    env.pop("WEBSETS_MAX_RPS", None)  # the default budget is what is measured
    return subprocess.run([*command(), *args], env=env, capture_output=True, text=True)


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=500)
    parser.add_argument("--rps-limit", type=float, default=10.0)
    parser.add_argument("--processing", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_repo(Path(tmp) / "repo", args.imports)
        log = Path(tmp) / "requests.jsonl"
        options = ["--api-key", API_KEY, "--rps-limit", str(args.rps_limit), "--processing-delay", str(args.processing)]
        with emulator_process(*options, "--request-log", str(log)) as served:
            runs, failures, first_wall = 0, None, 0.0
            while runs < MAX_RUNS:
                runs += 1
                started = time.perf_counter()
                result = run(served.base_url, "apply", "-f", str(manifest), "--auto-approve", "--json")
                wall = time.perf_counter() - started
                if runs == 1:
                    first_wall = wall
                    first_requests = [json.loads(line) for line in log.read_text().splitlines()]
                    try:
                        failures = len(json.loads(result.stdout)["failures"])
                    except (ValueError, KeyError):
                        failures = None
                if result.returncode == 0:
                    break
            settled = run(served.base_url, "plan", "-f", str(manifest), "--detailed-exitcode").returncode == 0
    api = [r for r in first_requests if r["method"] != "PUT"]
    throttled = sum(1 for r in api if r.get("status") == 429)
    per_create = len(api) / args.imports
    floor = len(api) / DEFAULT_MAX_RPS + args.processing
    ratio = first_wall / floor
    print(
        f"{args.imports} creates; emulator --rps-limit {args.rps_limit:g} --processing-delay {args.processing:g}; "
        f"default parallelism and budget ({DEFAULT_MAX_RPS:g}/s)"
    )
    print(
        f"API requests per create: {per_create:.2f} ({len(api)} in the first run: "
        f"{sum(r['method'] == 'POST' for r in api)} POST, {sum(r['method'] == 'GET' for r in api)} GET); "
        f"goal <= 1.2 -> {verdict(per_create <= 1.2)}"
    )
    print(f"429s met: {throttled}; goal 0 -> {verdict(throttled == 0)}")
    print(f"failed creates in the first run: {failures}; goal 0 -> {verdict(failures == 0)}")
    converged = runs if settled else f"more than {MAX_RUNS}"
    print(f"runs to converge: {converged}; goal 1 -> {verdict(settled and runs == 1)}")
    print(
        f"figure: wall time {first_wall:.1f} s; rate floor {floor:.1f} s ({len(api)} requests / {DEFAULT_MAX_RPS:g} "
        f"a second + {args.processing:g} s processing); goal <= 1.3 x; ratio {ratio:.2f} -> {verdict(ratio <= 1.3)}"
    )


if __name__ == "__main__":
    main()
