"""Peak memory of an apply that creates 10,000 imports, and of the plan that follows it, at zero latency.

Each command runs as its own `websets-reconciler` process against the emulator in another process; the
figure is the process's peak resident set size (getrusage of that child alone, through wait4).
Target: under 200 MB for each.
Run: .venv/bin/python benchmarks/bench_memory.py [--imports 10000] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import API_KEY, NO_PACING, command, make_repo

from reconciler.emulator.process import emulator_process

GOAL_MB = 200.0


def peak_rss(args: list[str], base_url: str, expect: str) -> tuple[float, float]:
    """Run the CLI; return its peak RSS in MB and its wall time in seconds."""
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": base_url}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([*command(), *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0 or expect not in stdout:
        raise SystemExit(f"{args[0]} failed ({process.returncode}): {stdout[-2000:]}\n{stderr[-2000:]}")
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    scale = 1 / (1 << 20) if sys.platform == "darwin" else 1 / 1024
    return usage.ru_maxrss * scale, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=10_000)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_repo(Path(tmp) / "repo", args.imports)
        options = ("--api-key", API_KEY, "--processing-delay", "0", "--data-dir", str(Path(tmp) / "state"))
        with emulator_process(*options) as served:
            budget = NO_PACING  # zero latency, so the request budget is the only pacing left
            runs = {
                f"apply ({args.imports:,} creates)": (
                    ["apply", "-f", str(manifest), "--auto-approve", "--parallelism", str(args.parallelism), *budget],
                    "Apply complete",
                ),
                f"plan ({args.imports:,} in sync, full lockfile)": (
                    ["plan", "-f", str(manifest), "--no-color", *budget],
                    "No changes.",
                ),
            }
            for name, (argv, expect) in runs.items():
                peak, wall = peak_rss(argv, served.base_url, expect)
                verdict = "OK" if peak < GOAL_MB else "MISS"
                print(
                    f"{name}: peak RSS {peak:.1f} MB ({wall:.1f} s); goal < {GOAL_MB:g} MB; "
                    f"ratio {peak / GOAL_MB:.2f} -> {verdict}"
                )


if __name__ == "__main__":
    main()
