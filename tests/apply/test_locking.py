"""The state lock: two applies at once, waiting for the lock, force-unlock, and lock files left unreadable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from reconciler.apply.statelock import StateLock
from reconciler.cli import cli
from reconciler.emulator import FaultConfig, Latency
from reconciler.errors import LockHeld, ReconcilerError
from tests.apply.helpers import assert_converged, rows, write_files
from tests.conftest import API_KEY


def _start_apply(emulator, manifest, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "-f", str(manifest), "--auto-approve", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_applies_started_together_exactly_one_proceeds(make_emulator, tmp_path):
    # Slow answers keep the first apply inside its lock while the second starts.
    emulator = make_emulator(faults=FaultConfig(latency=Latency(300)))
    files = {"a": rows(1, "a"), "b": rows(1, "b")}
    manifest = write_files(tmp_path, files)
    procs = [_start_apply(emulator, manifest) for _ in range(2)]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(err for code, _, err in outcomes if code == 1)
    assert "the state lock" in loser and "is held by" in loser and "(pid " in loser
    assert_converged(emulator, manifest, files)
    assert not (tmp_path / "websets.lock.held").exists()


def test_second_apply_waits_with_lock_timeout(make_emulator, tmp_path):
    emulator = make_emulator(faults=FaultConfig(latency=Latency(200)))
    files = {"a": rows(1, "a")}
    manifest = write_files(tmp_path, files)
    procs = [_start_apply(emulator, manifest, "--lock-timeout", "60") for _ in range(2)]
    outcomes = [(p.wait(timeout=120), p.stdout.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert sorted(out.splitlines()[-1] for _, out in outcomes) == [
        "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted.",
        "Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted.",
    ]
    assert_converged(emulator, manifest, files)


def test_lock_records_its_holder_and_force_unlock_checks_the_id(tmp_path):
    lock = StateLock(tmp_path / "websets.lock")
    lock_id = lock.acquire("apply")
    info = json.loads((tmp_path / "websets.lock.held").read_text())
    assert info["id"] == lock_id and info["operation"] == "apply" and info["pid"] == os.getpid()
    assert set(info) == {"id", "operation", "who", "pid", "host", "created", "path"}
    with pytest.raises(LockHeld) as held:
        StateLock(tmp_path / "websets.lock").acquire("apply")
    assert held.value.info["id"] == lock_id
    assert "stale" not in str(held.value)  # our own process is alive
    with pytest.raises(ReconcilerError, match="not wrong-id; nothing removed"):
        lock.force_unlock("wrong-id")
    lock.force_unlock(lock_id)
    assert not (tmp_path / "websets.lock.held").exists()
    lock.release(lock_id)  # releasing a lock that is gone is harmless
    with pytest.raises(ReconcilerError, match="no state lock is held"):
        lock.force_unlock(lock_id)


def test_lock_timeout_gives_up(tmp_path):
    lock = StateLock(tmp_path / "websets.lock")
    lock.acquire("apply")
    waits: list[float] = []
    with pytest.raises(LockHeld):
        StateLock(tmp_path / "websets.lock").acquire("apply", timeout=0.05, sleep=waits.append)
    assert waits and all(w <= 0.5 for w in waits)


def _old_empty_lock(folder) -> None:
    held = folder / "websets.lock.held"
    held.write_bytes(b"")  # what an apply killed between creating the lock file and writing it leaves
    os.utime(held, (0, 0))


def test_an_empty_lock_file_names_an_id_that_force_unlock_accepts(tmp_path):
    _old_empty_lock(tmp_path)
    with pytest.raises(LockHeld) as held:
        StateLock(tmp_path / "websets.lock").acquire("apply")
    message = str(held.value)
    assert "unreadable" in message and "check no apply is running" in message
    command = re.search(r"`websets-reconciler force-unlock ([^`]+)`", message)
    assert command, message
    lock_id = command.group(1)
    assert lock_id == held.value.info["id"] and re.fullmatch(r"unreadable-[0-9a-f]{12}", lock_id)
    with pytest.raises(ReconcilerError, match="nothing removed"):
        StateLock(tmp_path / "websets.lock").force_unlock("?")
    result = CliRunner().invoke(cli, ["force-unlock", "-f", str(tmp_path / "websets.yaml"), lock_id])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "websets.lock.held").exists()
    StateLock(tmp_path / "websets.lock").acquire("apply")  # free again


@pytest.mark.parametrize("content", [b"{}", b"[1]", b'{"id": "?"}', b'{"id": "a b; rm -rf /"}', b"\xff\xfe"])
def test_a_lock_file_without_a_usable_id_is_removable_the_same_way(tmp_path, content):
    (tmp_path / "websets.lock.held").write_bytes(content)
    lock = StateLock(tmp_path / "websets.lock")
    lock_id = str(lock.holder()["id"])
    assert re.fullmatch(r"unreadable-[0-9a-f]{12}", lock_id)
    lock.force_unlock(lock_id)
    assert not (tmp_path / "websets.lock.held").exists()


def test_an_unreadable_id_removes_only_the_bytes_it_was_reported_for(tmp_path):
    _old_empty_lock(tmp_path)
    lock = StateLock(tmp_path / "websets.lock")
    reported = str(lock.holder()["id"])
    (tmp_path / "websets.lock.held").write_text("{")  # changed since it was reported
    with pytest.raises(ReconcilerError, match="nothing removed"):
        lock.force_unlock(reported)
    assert (tmp_path / "websets.lock.held").exists()


def test_a_lock_being_written_by_another_apply_is_waited_for_not_reported_unreadable(tmp_path):
    held = tmp_path / "websets.lock.held"
    held.write_bytes(b"")  # just created by another acquire, not yet written
    other = {"id": "other-id", "operation": "apply", "who": "ci", "pid": os.getpid(), "host": "h", "created": "now"}

    def sleep(seconds: float) -> None:
        held.write_text(json.dumps(other))  # the other acquire finishes writing

    with pytest.raises(LockHeld) as raised:
        StateLock(tmp_path / "websets.lock").acquire("apply", sleep=sleep)
    assert raised.value.info["id"] == "other-id"
    assert "is held by ci (pid " in str(raised.value)


def test_a_failed_lock_write_leaves_no_empty_lock(tmp_path, monkeypatch):
    def fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("reconciler.apply.statelock.os.fsync", fsync)
    with pytest.raises(ReconcilerError, match="cannot write the state lock: No space left on device"):
        StateLock(tmp_path / "websets.lock").acquire("apply")
    assert not (tmp_path / "websets.lock.held").exists()


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "dangling"])
def test_a_lock_file_that_is_not_a_regular_file_is_unreadable_not_read(tmp_path, kind):
    """A state lock committed as a link to /dev/zero, or a FIFO, is never read: reported, and removable."""
    held = tmp_path / "websets.lock.held"
    if kind == "dev-zero":
        held.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(held)
    else:
        held.symlink_to(tmp_path / "nowhere")
    lock = StateLock(tmp_path / "websets.lock")
    info = lock.holder()
    assert info is not None and str(info["id"]).startswith("unreadable-")
    with pytest.raises(LockHeld, match="held but unreadable"):
        lock.acquire("apply")
    lock.force_unlock(str(info["id"]))
    assert not os.path.lexists(held)
