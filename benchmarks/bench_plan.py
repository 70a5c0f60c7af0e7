"""A plan over 10,000 managed imports against the emulator with 20 ms latency per request.

The floor is requests x latency: a refresh that lists 200 imports per request cannot be faster.
Target: wall time at most 1.3 x floor + 0.5 s.
Run: .venv/bin/python benchmarks/bench_plan.py [--imports 10000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from reconciler.emulator import Emulator, FaultConfig, Latency
from reconciler.emulator.process import emulator_process
from reconciler.emulator.store import Store
from reconciler.model import STAMP_IDENTIFIER, STAMP_KEY, STAMP_OWNER, STAMP_SHA256
from reconciler.refresh import plan_from, read_snapshot
from reconciler.remote.client import ApiClient
from reconciler.render.plan_text import render_text

CSV = b"url,name\nhttps://a.example,A\n"


def seed(data_dir: Path, keys: list[str]) -> None:
    """Write the managed imports straight into an emulator data directory."""
    store = Store(data_dir, clock=time.time, processing_delay=0)
    stamps = {STAMP_OWNER: "bench", STAMP_SHA256: hashlib.sha256(CSV).hexdigest(), STAMP_IDENTIFIER: "0"}
    for key in keys:
        _, token, _ = store.create(
            {
                "format": "csv",
                "size": len(CSV),
                "count": 1,
                "title": key,
                "entity": {"type": "company"},
                "metadata": {**stamps, STAMP_KEY: key},
                "identifier": 0,
            }
        )
        store.upload(token, CSV)
    store.close()


def timed_plan(base_url: str, manifest: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    with ApiClient(base_url, "bench") as client:
        plan = plan_from(read_snapshot(str(manifest), client))
        text = render_text(plan)
        requests = client.requests
    return time.perf_counter() - started, requests, text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data.csv").write_bytes(CSV)
        keys = [f"import-{i:05d}" for i in range(args.imports)]
        lines = ["version: 1", "owner: bench", "defaults: {entity: {type: company}}", "imports:"]
        lines += [f"  {k}: {{title: {k}, csv: data.csv}}" for k in keys]
        manifest = root / "websets.yaml"
        manifest.write_text("\n".join(lines) + "\n")
        seed(root / "state", keys)
        # The API is another machine: the measured run serves it from another process, so the emulator
        # does not compete with the tool for the GIL. The in-process figure is printed for comparison.
        options = ("--api-key", "bench", "--data-dir", str(root / "state"), "--latency-ms", str(args.latency_ms))
        with emulator_process(*options) as served:
            wall, requests, text = timed_plan(served.base_url, manifest)
        faults = FaultConfig(latency=Latency(args.latency_ms))
        with Emulator(api_key="bench", data_dir=root / "state", faults=faults) as emu:
            in_process, _, _ = timed_plan(emu.base_url, manifest)
    assert text.endswith("No changes.\n"), text[-500:]
    floor = requests * latency
    target = 1.3 * floor + 0.5
    print(f"managed imports: {args.imports:,}; latency {args.latency_ms:g} ms per request")
    print(f"requests: {requests} (ceil(N/200) = {-(-args.imports // 200)})")
    print(f"wall time: {wall:.3f} s; floor (requests x latency): {floor:.3f} s; ratio {wall / floor:.2f}x")
    print(f"target: <= 1.3 x floor + 0.5 s = {target:.3f} s -> {'OK' if wall <= target else 'MISSED'}")
    print(f"(for comparison, with the emulator in this process, sharing its GIL: {in_process:.3f} s)")


if __name__ == "__main__":
    main()
