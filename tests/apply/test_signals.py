"""Ctrl-C and SIGTERM during an apply: the first finishes what is in flight, saves and releases; the second
stops at once without losing the journal; a signal after the work changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reconciler.lockfile import parse_lock
from tests.apply.helpers import apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY

FILES = {k: rows(2, k) for k in "abcd"}


def _apply(emulator, manifest: Path, signals: list[tuple[str, int, int]]) -> tuple[int, str]:
    """Run apply in a process; after the emulator serves the n-th request of a method, send it `signum`."""
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    args = [sys.executable, "-m", "reconciler", "apply", "-f", str(manifest), "--auto-approve", "--parallelism", "1"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: dict[str, int] = {}
    guard = threading.Lock()

    def hook(phase: str, method: str, route: str) -> None:
        if phase != "after":
            return
        with guard:
            seen[method] = seen.get(method, 0) + 1
            for wanted, n, signum in signals:
                if wanted == method and seen[method] == n and proc.poll() is None:
                    os.kill(proc.pid, signum)

    emulator.on_request = hook
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        emulator.on_request = None
    return proc.returncode, output


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".websets.lock") or p.name.endswith(".held"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_finishes_the_steps_in_flight_and_exits_130(make_emulator, tmp_path, clock, signum):
    emulator = make_emulator(processing_delay=30, clock=clock)
    manifest = write_files(tmp_path, FILES)
    code, output = _apply(emulator, manifest, [("PUT", 1, signum)])
    assert code == 130, output
    assert "interrupting: finishing 1 steps in flight; Ctrl-C again to stop at once" in output
    assert "Apply interrupted: 3 change(s) not started (b, c, d)" in output
    assert "Traceback" not in output
    assert _leftovers(tmp_path) == []  # the state lock is released, no temp file is left
    made = emulator.store.list(200, None)["data"]
    assert len(made) == 1  # nothing new was started after the signal
    lock = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock")
    assert set(lock.imports) | {op.key for op in lock.journal} == {"a"}
    clock.advance(31)
    emulator.store.processing_delay = 0
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, FILES)


def test_a_second_signal_stops_at_once_and_the_next_apply_finishes(make_emulator, tmp_path, clock):
    """The second Ctrl-C comes while a step waits for an answer that only comes once the process is gone."""
    emulator = make_emulator(processing_delay=30, clock=clock)
    manifest = write_files(tmp_path, FILES)
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    args = [sys.executable, "-m", "reconciler", "apply", "-f", str(manifest), "--auto-approve", "--parallelism", "1"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    first_handled = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("interrupting:"):
                first_handled.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    gets = 0

    def hook(phase: str, method: str, route: str) -> None:
        nonlocal gets
        if (phase, method) == ("after", "PUT"):
            os.kill(proc.pid, signal.SIGINT)
        elif (phase, method) == ("before", "GET"):
            gets += 1
            if gets == 2:  # the step in flight polls for processing: hold the answer, stop the apply
                assert first_handled.wait(10)
                os.kill(proc.pid, signal.SIGINT)
                proc.wait(timeout=10)

    emulator.on_request = hook
    try:
        code = proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        emulator.on_request = None
    output = "".join(lines)
    assert code == 130, output
    assert "stopping at once" in output and "Traceback" not in output
    assert _leftovers(tmp_path) == []  # released: the next apply needs no force-unlock
    lock = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock")
    assert len(emulator.store.list(200, None)["data"]) == 1
    assert [op.key for op in lock.journal] == ["a"]  # the create in flight is on disk
    clock.advance(31)
    emulator.store.processing_delay = 0
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, FILES)


def test_a_signal_after_the_last_step_does_not_fail_the_apply(make_emulator, tmp_path):
    emulator = make_emulator()
    manifest = write_files(tmp_path, {"a": rows(2, "a")})
    # One create: POST, PUT, then GETs until completed; the signal comes after the last step's request.
    code, output = _apply(emulator, manifest, [("PUT", 1, signal.SIGINT)])
    assert (code, output.splitlines()[-1]) == (0, "Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted.")
    assert_converged(emulator, manifest, {"a": rows(2, "a")})
