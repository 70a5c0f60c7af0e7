"""An apply killed with SIGKILL at any of 20+ points is finished by the next one: no duplicate, no
orphan, a valid lockfile. The kill comes from the emulator, right after it served request k."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.apply.helpers import apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY

KILL_POINTS = range(1, 25)
BEFORE = {k: rows(2, k) for k in "abcdghi"}
# Three replaces, two updates, two deletes, three creates: every kind of step, in one apply.
AFTER = {
    **{k: rows(3, k + "2") for k in "abg"},
    **{k: rows(2, k) for k in "ch"},
    **{k: rows(1, k) for k in "efj"},
}
RENAMED = {"c": "Renamed c", "h": "Renamed h"}
REMOVED = "di"


def _killing_apply(emulator, manifest, kill_at: int) -> tuple[int, list[str]]:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "-f", str(manifest), "--auto-approve", "--parallelism", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served: list[str] = []

    def hook(phase: str, method: str, route: str) -> None:
        if phase == "after" and proc.returncode is None:
            served.append(f"{method} {route}")
            if len(served) == kill_at:
                os.kill(proc.pid, signal.SIGKILL)

    emulator.on_request = hook
    try:
        code = proc.wait(timeout=60)
    finally:
        emulator.on_request = None
    return code, served


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_apply_killed_at_any_point_is_finished_by_the_next(make_emulator, tmp_path, monkeypatch, kill_at):
    emulator = make_emulator()
    manifest = write_files(tmp_path, BEFORE)
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, BEFORE)
    write_files(tmp_path, AFTER, titles=RENAMED)
    for key in REMOVED:
        (tmp_path / "data" / f"{key}.csv").unlink()

    code, served = _killing_apply(emulator, manifest, kill_at)
    assert code == -signal.SIGKILL, f"the apply finished after {len(served)} requests: {served}"

    # The killed run left its state lock: the next apply names it as stale, and force-unlock clears it.
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    held = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"])
    assert held.exit_code == 1 and "the lock is stale" in held.output
    lock_id = held.output.split("force-unlock ")[1].split("`")[0]
    assert CliRunner().invoke(cli, ["force-unlock", "-f", str(manifest), lock_id]).exit_code == 0

    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, AFTER)
    plan = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--detailed-exitcode"])
    assert plan.exit_code == 0, plan.output


def test_kill_points_cover_the_dangerous_gaps(make_emulator, tmp_path):
    """The uninterrupted run has more requests than the kill points, and they include the gap between
    a POST and its upload and the gap between a replace's create and its delete."""
    emulator = make_emulator()
    manifest = write_files(tmp_path, BEFORE)
    apply_once(emulator, manifest)
    write_files(tmp_path, AFTER, titles=RENAMED)
    for key in REMOVED:
        (tmp_path / "data" / f"{key}.csv").unlink()
    code, served = _killing_apply(emulator, manifest, kill_at=10_000)
    assert code == 0
    assert len(served) > max(KILL_POINTS) >= 20
    post_then_put = [
        i + 1 for i, r in enumerate(served[:-1]) if r.startswith("POST") and served[i + 1].startswith("PUT")
    ]
    deletes = [i + 1 for i, r in enumerate(served) if r.startswith("DELETE")]
    assert any(p in KILL_POINTS for p in post_then_put)
    assert any(d in KILL_POINTS for d in deletes)
