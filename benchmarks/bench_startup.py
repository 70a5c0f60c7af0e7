"""Start-up: `websets-reconciler --help`, and `validate` of the bundled example, as a user runs them.

Each is run as its own process, ~20 times; the figure is the median wall time.
Target: at most 0.15 s each.
Run: .venv/bin/python benchmarks/bench_startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from benchkit import command

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.15


def median_wall(args: list[str], runs: int) -> float:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([*command(), *args], capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {result.stdout[-1000:]}\n{result.stderr[-1000:]}")
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    cases = {
        "websets-reconciler --help": ["--help"],
        "websets-reconciler validate -f examples/websets.yaml": ["validate", "-f", str(ROOT / "examples/websets.yaml")],
    }
    median_wall(["--help"], 2)  # the first runs warm the disk cache and the bytecode
    for name, argv in cases.items():
        figure = median_wall(argv, args.runs)
        verdict = "OK" if figure <= GOAL else "MISS"
        print(f"{name}: median {figure:.3f} s of {args.runs}; goal <= {GOAL} s; ratio {figure / GOAL:.2f} -> {verdict}")


if __name__ == "__main__":
    main()
