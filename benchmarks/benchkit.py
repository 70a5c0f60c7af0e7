"""What the benchmarks share: the API key their emulators take, how the CLI is run as a user runs it,
a manifest of n imports with their own CSVs, and the option that turns pacing off."""

from __future__ import annotations

import sys
from pathlib import Path

API_KEY = "bench"
# The tool's own cost is measured without the request budget: the emulators here have no rate limit.
NO_PACING = ["--max-rps", "0"]


def command() -> list[str]:
    """The console script beside this interpreter, as a user runs it (else `python -m reconciler`)."""
    script = Path(sys.executable).parent / "websets-reconciler"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def make_repo(root: Path, n: int) -> Path:
    """A manifest of n imports, each with its own small CSV; none exists remotely yet."""
    (root / "data").mkdir(parents=True)
    lines = ["version: 1", "owner: bench", "defaults: {entity: {type: company}}", "imports:"]
    for i in range(n):
        (root / "data" / f"i{i:05d}.csv").write_text(f"url,name\nhttps://c{i}.example,Company {i}\n")
        lines.append(f"  import-{i:05d}: {{title: Import {i}, csv: data/i{i:05d}.csv}}")
    if not n:
        lines.append("  {}")
    (root / "websets.yaml").write_text("\n".join(lines) + "\n")
    return root / "websets.yaml"
