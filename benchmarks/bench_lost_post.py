"""A create whose POST answer is lost, in an account of 10,000 imports, at 20 ms latency per request.

The apply must find out whether the lost POST made an import (it did: the emulator made it, then closed
the connection) by looking for the create's operation stamp. The figure is the listing pages that search
read: the newest page or two, not the whole account (ceil(10,001 / 200) = 51 pages). Its time is measured
in this process too, against the time a full listing takes.
Goal: at most 2 pages. Run: .venv/bin/python benchmarks/bench_lost_post.py [--imports 10000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchkit import API_KEY, command

from reconciler.emulator.faults import FaultConfig, FaultInjector, Latency, Rate
from reconciler.emulator.process import emulator_process
from reconciler.emulator.store import Store
from reconciler.remote.client import ApiClient
from reconciler.remote.state import find_stamped, read_remote

IMPORTS_PATH = "/websets/v0/imports"
LOSE = "0.5:POST"


def fault_seed(latency_ms: float) -> int:
    """A seed whose first POST loses its answer and whose next two do not (the latency draws come first)."""
    for seed in range(10_000):
        config = FaultConfig(seed=seed, latency=Latency.parse(f"{latency_ms:g}"), lose=Rate.parse(LOSE))
        faults = FaultInjector(config)
        if [faults.decide("POST", IMPORTS_PATH).action for _ in range(3)] == ["lose", None, None]:
            return seed
    raise SystemExit("no seed loses only the first POST")


def prepare(root: Path, n: int) -> Path:
    """The emulator's state with n imports of another team made an hour ago, and a manifest of one import."""
    store = Store(root / "state", clock=lambda: time.time() - 3600, processing_delay=0)
    content = b"url\nhttps://a.example\n"
    for i in range(n):
        params = {"format": "csv", "size": len(content), "count": 1, "title": f"old {i}", "identifier": 0}
        _, token, _ = store.create({**params, "entity": {"type": "company"}, "metadata": {"team": "other"}})
        store.upload(token, content)
    store.close()
    (root / "data.csv").write_text("url,name\nhttps://new.example,New\n")
    manifest = root / "websets.yaml"
    manifest.write_text("version: 1\nowner: bench\nimports: {new: {csv: data.csv, entity: {type: company}}}\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = prepare(root, args.imports)
        log = root / "requests.jsonl"
        options = ["--api-key", API_KEY, "--data-dir", str(root / "state"), "--latency-ms", f"{args.latency_ms:g}"]
        options += ["--lose-rate", LOSE, "--seed", str(fault_seed(args.latency_ms)), "--request-log", str(log)]
        with emulator_process(*options) as served:
            env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": served.base_url}
            result = subprocess.run(
                [*command(), "apply", "-f", str(manifest), "--auto-approve"], env=env, capture_output=True, text=True
            )
            if result.returncode != 0:
                raise SystemExit(f"apply failed: {result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            with ApiClient(served.base_url, API_KEY, max_rps=0) as client:
                started = time.perf_counter()
                assert find_stamped(client, "an-operation-never-sent", time.time()) is None
                search = time.perf_counter() - started
                started = time.perf_counter()
                everything = len(read_remote(client))
                full = time.perf_counter() - started
        requests = [json.loads(line) for line in log.read_text().splitlines()]
    lost = next(i for i, r in enumerate(requests) if r["method"] == "POST")
    if requests[lost]["fault"] != "lose":
        raise SystemExit("the first POST's answer was not lost: the fault seed is wrong")
    retried = next(i for i, r in enumerate(requests) if i > lost and r["method"] == "POST")
    pages = sum(1 for r in requests[lost + 1 : retried] if (r["method"], r["path"]) == ("GET", IMPORTS_PATH))
    print(f"account: {everything:,} imports; latency {args.latency_ms:g} ms; one create whose POST answer is lost")
    print(f"the apply searched {pages} page(s) for the lost create's stamp (a full listing: {-(-everything // 200)})")
    print(f"a search that finds nothing: {search * 1000:.0f} ms; a full listing: {full * 1000:.0f} ms")
    print(f"figure: {pages} page(s); goal: <= 2; ratio {pages / 2:.2f} -> {'OK' if pages <= 2 else 'MISS'}")


if __name__ == "__main__":
    main()
