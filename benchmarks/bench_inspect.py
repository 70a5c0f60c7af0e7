"""Inspecting a generated 50 MB CSV, against one pass of csv.reader plus one pass of sha256 over it.

Target: wall time at most 1.5x that baseline, and peak memory growth under 32 MB.
Run: .venv/bin/python benchmarks/bench_inspect.py [--size-mb 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from reconciler.manifest.csvinspect import MAX_BYTES, inspect_csv


def generate(path: Path, size: int) -> None:
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "Acme, Inc.", "naïve café", "x" * 40]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "website", "segment", "notes"])
        written = 0
        i = 0
        while written < size - 300:
            notes = " ".join(rng.choices(words, k=rng.randint(1, 6)))
            if i % 50 == 0:
                notes += "\nsecond line"  # a quoted newline inside a record
            row = [f"Company {i}", f"https://c{i}.example.com", rng.choice(["smb", "enterprise"]), notes]
            line = f'{row[0]},{row[1]},{row[2]},"{row[3]}"\r\n'
            f.write(line)
            written += len(line.encode())
            i += 1


def baseline(path: Path) -> float:
    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as f:
        rows = sum(1 for _ in csv.reader(f))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    elapsed = time.perf_counter() - started
    assert rows > 0 and digest.hexdigest()
    return elapsed


def ours(path: Path) -> float:
    started = time.perf_counter()
    facts = inspect_csv(path, ["website"])
    elapsed = time.perf_counter() - started
    assert facts.records > 0 and not facts.problems and facts.identifiers["website"].index == 1
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=float, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = min(int(args.size_mb * 1_000_000), MAX_BYTES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        generate(path, size)
        actual = path.stat().st_size
        base_times, our_times = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same page cache and load
            base_times.append(baseline(path))
            our_times.append(ours(path))
        tracemalloc.start()
        inspect_csv(path, ["website"])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    base, our = min(base_times), min(our_times)
    ratio = our / base
    print(f"file: {actual:,} bytes")
    print(f"baseline (csv.reader pass + sha256 pass): {base:.3f} s (best of {args.repeat})")
    print(f"inspect_csv (one streaming pass):         {our:.3f} s (best of {args.repeat})")
    print(f"ratio: {ratio:.2f}x (target <= 1.5x) {'OK' if ratio <= 1.5 else 'MISSED'}")
    verdict = "OK" if peak < 32e6 else "MISSED"
    print(f"peak traced memory during inspection: {peak / 1e6:.1f} MB (target < 32 MB) {verdict}")


if __name__ == "__main__":
    main()
