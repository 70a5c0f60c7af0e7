"""Apply's cost per create must not grow with the number of creates: 250 against 4,000.

The emulator answers at once (no latency, no processing) and runs in its own process; apply runs as a
user runs it, at --parallelism 16, with no request budget (`--max-rps 0`). What is
left is the tool's own work per create: the journal, the bookkeeping, the requests' CPU. The fixed cost
of a run (start-up, the state lock, an empty listing) is measured with an apply of an empty manifest and
taken off both runs, so that it does not flatter the small one.
Target: the per-create time of 4,000 creates is at most 1.3x that of 250.
Run: .venv/bin/python benchmarks/bench_apply_scale.py [--small 250] [--large 4000] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchkit import API_KEY, NO_PACING, command, make_repo

from reconciler.emulator.process import emulator_process

GOAL = 1.3


def time_apply(manifest: Path, parallelism: int, extra: list[str]) -> float:
    """Wall time of one apply against a fresh emulator; exits when the apply does not complete."""
    with emulator_process("--api-key", API_KEY, "--latency-ms", "0", "--processing-delay", "0") as served:
        env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": served.base_url}
        args = ["apply", "-f", str(manifest), "--auto-approve", "--parallelism", str(parallelism), *extra]
        started = time.perf_counter()
        result = subprocess.run([*command(), *args], env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if result.returncode != 0 or "Apply complete" not in result.stdout:
        raise SystemExit(f"apply failed: {result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    if (manifest.parent / "websets.lock.journal").exists():
        raise SystemExit("apply left its journal beside the lockfile")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=250)
    parser.add_argument("--large", type=int, default=4000)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    extra = NO_PACING
    with tempfile.TemporaryDirectory() as tmp:
        fixed = time_apply(make_repo(Path(tmp) / "empty", 0), args.parallelism, extra)
        walls = {
            n: time_apply(make_repo(Path(tmp) / f"n{n}", n), args.parallelism, extra) for n in (args.small, args.large)
        }
    per = {n: (wall - fixed) / n for n, wall in walls.items()}
    print(f"apply --parallelism {args.parallelism} {' '.join(extra)}; no latency, no processing")
    print(f"fixed cost (an apply of an empty manifest): {fixed:.3f} s")
    for n, wall in walls.items():
        print(f"{n:>6,} creates: {wall:8.3f} s wall; {per[n] * 1000:7.3f} ms per create (fixed cost taken off)")
    ratio = per[args.large] / per[args.small]
    print(
        f"figure: {ratio:.2f}x the per-create time of {args.small:,} at {args.large:,}; goal: <= {GOAL}x "
        f"-> {'OK' if ratio <= GOAL else 'MISS'}"
    )


if __name__ == "__main__":
    main()
