"""A plan over 10,000 managed imports against the emulator with 20 ms latency per request, as a user runs it.

The measured run is the `websets-reconciler plan` process (wall time, start-up included) in a folder of
10,000 distinct CSV files with a full lockfile, made once by a real apply. The floor is requests x latency:
a refresh that lists 200 imports per request cannot be faster.
Target: wall time at most 1.3 x floor + 0.3 s, in every run.
Run: .venv/bin/python benchmarks/bench_plan.py [--imports 10000] [--latency-ms 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchkit import API_KEY, NO_PACING, command

from reconciler.emulator.process import emulator_process
from reconciler.emulator.store import Store
from reconciler.model import STAMP_IDENTIFIER, STAMP_KEY, STAMP_OWNER, STAMP_SHA256
from reconciler.refresh import paused_cycle_collection, plan_from, read_snapshot
from reconciler.remote.client import ApiClient
from reconciler.render.plan_text import render_text


def csv_bytes(i: int) -> bytes:
    return f"url,name\nhttps://c{i}.example,Company {i}\n".encode()


def prepare(root: Path, n: int) -> Path:
    """A folder of n distinct CSVs and their manifest, the emulator's state holding them, and the lockfile."""
    (root / "data").mkdir(parents=True)
    lines = ["version: 1", "owner: bench", "defaults: {entity: {type: company}}", "imports:"]
    store = Store(root / "state", clock=time.time, processing_delay=0)
    for i in range(n):
        key, content = f"import-{i:05d}", csv_bytes(i)
        (root / "data" / f"i{i:05d}.csv").write_bytes(content)
        lines.append(f"  {key}: {{title: {key}, csv: data/i{i:05d}.csv}}")
        stamps = {
            STAMP_OWNER: "bench",
            STAMP_KEY: key,
            STAMP_SHA256: hashlib.sha256(content).hexdigest(),
            STAMP_IDENTIFIER: "0",
        }
        params = {"format": "csv", "size": len(content), "count": 1, "title": key}
        _, token, _ = store.create({**params, "entity": {"type": "company"}, "metadata": stamps, "identifier": 0})
        store.upload(token, content)
    store.close()
    manifest = root / "websets.yaml"
    manifest.write_text("\n".join(lines) + "\n")
    # An apply that finds every import in sync writes the lockfile it rebuilds from the stamps.
    with emulator_process("--api-key", API_KEY, "--data-dir", str(root / "state")) as served:
        run("apply", "-f", str(manifest), "--auto-approve", base_url=served.base_url)
    if not (root / "websets.lock").exists():
        raise SystemExit("the preparing apply wrote no lockfile")
    return manifest


def run(*args: str, base_url: str) -> tuple[float, str]:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": base_url}
    started = time.perf_counter()
    result = subprocess.run([*command(), *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def in_process(base_url: str, manifest: Path) -> float:
    started = time.perf_counter()
    # As the command does: the cycle collector waits until what the plan was built from is gone.
    with ApiClient(base_url, API_KEY, max_rps=0) as client, paused_cycle_collection():
        text = render_text(plan_from(read_snapshot(str(manifest), client)))
    assert text.endswith("No changes.\n"), text[-500:]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = prepare(Path(tmp) / "repo", args.imports)
        log = Path(tmp) / "requests.jsonl"
        extra = NO_PACING
        # The API is another machine: it is served from another process, so it does not compete for the GIL.
        options = ("--api-key", API_KEY, "--data-dir", str(manifest.parent / "state"), "--request-log", str(log))
        with emulator_process(*options, "--latency-ms", str(args.latency_ms)) as served:
            walls = []
            for _ in range(args.runs):
                wall, text = run("plan", "-f", str(manifest), "--no-color", *extra, base_url=served.base_url)
                assert text.endswith("No changes.\n"), text[-500:]
                walls.append(wall)
            requests = len(log.read_text().splitlines()) // args.runs
            secondary = in_process(served.base_url, manifest)
    floor = requests * args.latency_ms / 1000
    goal = 1.3 * floor + 0.3
    worst = max(walls)
    print(f"managed imports: {args.imports:,} (distinct CSV files, full lockfile); latency {args.latency_ms:g} ms")
    print(f"requests per plan: {requests} (ceil(N/200) = {-(-args.imports // 200)}); floor {floor:.3f} s")
    print(f"`websets-reconciler plan {' '.join(extra)}` wall time: {', '.join(f'{w:.3f}' for w in walls)} s")
    print(
        f"figure: {worst:.3f} s (worst of {args.runs}); goal: <= 1.3 x floor + 0.3 s = {goal:.3f} s; "
        f"ratio {worst / goal:.2f} -> {'OK' if worst <= goal else 'MISS'}"
    )
    print(f"(in this process, start-up excluded: {secondary:.3f} s)")


if __name__ == "__main__":
    main()
