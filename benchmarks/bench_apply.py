"""500 creates of small CSVs at 20 ms latency and 200 ms processing.

Measures apply at --parallelism 16 and 1 (with no request budget, `--max-rps 0`),
and a straightforward sequential exa-py script (`create(..., csv_data=...)` then `wait_until_completed`,
per import, with the SDK's defaults) in the same run. The SDK script is timed on a sample and scaled to the
full count: it is strictly sequential, so its time is linear in the number of imports (each import costs
the same requests and waits).
The floor at parallelism P: creates / P x (POST + PUT + processing + one poll interval), each create's
unavoidable path, with P of them at a time.
Targets: apply at parallelism 16 within 1.3x its floor, and at least 10x faster than the exa-py script.
Needs the test extras (exa-py). Run: .venv/bin/python benchmarks/bench_apply.py [--imports 500] [--sdk-sample 12]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import API_KEY, NO_PACING, make_repo
from exa_py import Exa

from reconciler.apply.executor import PollPolicy
from reconciler.emulator.process import emulator_process

FLOOR_GOAL = 1.3


def serve(latency_ms: float, processing: float):  # a context manager: the emulator, in its own process
    return emulator_process(
        "--api-key", API_KEY, "--latency-ms", str(latency_ms), "--processing-delay", str(processing)
    )


def floor(creates: int, parallelism: int, latency_ms: float, processing: float) -> float:
    """The least wall time: each create's POST, PUT, processing and one poll interval, P at a time."""
    per_create = 2 * latency_ms / 1000 + processing + PollPolicy().first
    return creates / parallelism * per_create


def time_apply(base_url: str, manifest: Path, parallelism: int, extra: list[str]) -> float:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": base_url}
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            "-f",
            str(manifest),
            "--auto-approve",
            "--parallelism",
            str(parallelism),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or "Apply complete" not in result.stdout:
        raise SystemExit(f"apply failed: {result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def time_sdk(base_url: str, root: Path, n: int) -> float:
    exa = Exa(API_KEY, base_url=base_url)
    started = time.perf_counter()
    for i in range(n):
        path = root / "data" / f"i{i:05d}.csv"
        params = {"format": "csv", "entity": {"type": "company"}, "title": f"Import {i}", "csv": {"identifier": 0}}
        created = exa.websets.imports.create(params, csv_data=str(path))
        done = exa.websets.imports.wait_until_completed(created.id)
        assert done.status == "completed", done
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--processing", type=float, default=0.2)
    parser.add_argument("--sdk-sample", type=int, default=12)
    args = parser.parse_args()
    results = {}
    extra = NO_PACING
    with tempfile.TemporaryDirectory() as tmp:
        for parallelism in (16, 1):
            with serve(args.latency_ms, args.processing) as served:
                manifest = make_repo(Path(tmp) / f"p{parallelism}", args.imports)
                results[parallelism] = time_apply(served.base_url, manifest, parallelism, extra)
            print(
                f"apply --parallelism {parallelism:>2} {' '.join(extra)}: {results[parallelism]:8.2f} s "
                f"for {args.imports} creates"
            )
        with serve(args.latency_ms, args.processing) as served:
            root = Path(tmp) / "sdk"
            make_repo(root, args.sdk_sample)
            sample = time_sdk(served.base_url, root, args.sdk_sample)
    least = floor(args.imports, 16, args.latency_ms, args.processing)
    ratio = results[16] / least
    print(
        f"floor at parallelism 16: {args.imports} / 16 x (POST + PUT + {args.processing:g} s processing + "
        f"{PollPolicy().first:g} s poll) = {least:.2f} s; wall / floor {ratio:.2f} (goal <= {FLOOR_GOAL}x) "
        f"-> {'OK' if ratio <= FLOOR_GOAL else 'MISS'}"
    )
    sdk = sample / args.sdk_sample * args.imports
    print(
        f"exa-py sequential script: {sample:8.2f} s for a sample of {args.sdk_sample}; "
        f"{sdk:8.2f} s scaled to {args.imports}"
    )
    print(
        f"speed-up at parallelism 16 vs exa-py: {sdk / results[16]:.1f}x (target >= 10x) "
        f"-> {'OK' if sdk / results[16] >= 10 else 'MISS'}"
    )
    print(
        f"speed-up at parallelism 1 vs exa-py:  {sdk / results[1]:.1f}x; parallelism 16 vs 1: "
        f"{results[1] / results[16]:.1f}x"
    )


if __name__ == "__main__":
    main()
