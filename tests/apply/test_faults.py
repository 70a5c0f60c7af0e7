"""Reruns of apply under seeded faults converge, with no duplicate and no orphan, for 50 seeds.

About 20% of requests fail: 500 or 503 with no change made, 429, or a lost response after the change.
"""

from __future__ import annotations

import pytest

from reconciler.emulator import FaultConfig, Rate
from reconciler.errors import ReconcilerError
from tests.apply.helpers import apply_once, assert_converged, rows, write_files

SEEDS = range(50)
MAX_RUNS = 12
FULL_SEED = 2  # a seed whose run meets every kind of fault


def _converge(emulator, manifest) -> int:
    """Apply until a run succeeds; return how many runs it took."""
    for attempt in range(1, MAX_RUNS + 1):
        try:
            _, result = apply_once(emulator, manifest)
        except ReconcilerError:
            continue
        if not result.failures and not result.pending:
            return attempt
    raise AssertionError(f"no convergence in {MAX_RUNS} runs")


def _run_seed(make_emulator, tmp_path, seed: int) -> set[str]:
    """Create three imports, then replace, update, delete and create under faults; return the faults met."""
    faults = FaultConfig(
        seed=seed,
        errors=Rate(0.10),
        throttle=Rate(0.05),
        lose=Rate(0.05),
        retry_after=0,
    )
    emulator = make_emulator(faults=faults)
    files = {"a": rows(2, "a"), "b": rows(2, "b"), "c": rows(1, "c")}
    manifest = write_files(tmp_path, files)
    _converge(emulator, manifest)
    assert_converged(emulator, manifest, files)

    # Second phase: one replace, one update, one delete, one create, all under the same faults.
    files["a"] = rows(3, "a2")
    del files["b"]
    files["d"] = rows(2, "d")
    write_files(tmp_path, files, titles={"c": "Renamed c"})
    (tmp_path / "data" / "b.csv").unlink()
    _converge(emulator, manifest)
    assert_converged(emulator, manifest, files)
    return {e["fault"] for e in emulator.request_log if e["fault"]}


@pytest.mark.parametrize("seed", SEEDS)
def test_reruns_converge_under_faults(make_emulator, tmp_path, seed):
    _run_seed(make_emulator, tmp_path, seed)


def test_every_kind_of_fault_is_met_and_survived(make_emulator, tmp_path):
    met = _run_seed(make_emulator, tmp_path, FULL_SEED)
    assert met >= {"error500", "error503", "throttle", "lose"}, met
