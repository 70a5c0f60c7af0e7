"""The apply journal (websets.lock.journal): a run's steps are appended beside the lockfile, which is
written once, when they are folded in. An apply killed in any journal state is finished by the next one,
with no duplicate and nothing lost; a torn or stale journal is never misread; plan reads without writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.apply.journal import read_lock
from reconciler.cli import cli
from reconciler.errors import LockfileError
from reconciler.lockfile import Lock, LockEntry, Operation, parse_lock, write_lock
from reconciler.model import Entity
from tests.apply.helpers import NO_WAIT_POLL, apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY

BEFORE = {"x": rows(2, "x")}
AFTER = {**BEFORE, **{k: rows(1, k) for k in "abc"}}  # three creates, run one after another


def _kill_after(emulator, manifest: Path, method: str, n: int) -> None:
    """Run apply in a process at --parallelism 1; SIGKILL it once the emulator has served the n-th `method`
    request, then clear the state lock it leaves, as an operator would."""
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    args = [sys.executable, "-m", "reconciler", "apply", "-f", str(manifest), "--auto-approve", "--parallelism", "1"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = 0
    guard = threading.Lock()

    def hook(phase: str, served: str, route: str) -> None:
        nonlocal seen
        if phase != "after" or served != method:
            return
        with guard:
            seen += 1
            if seen == n and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)

    emulator.on_request = hook
    try:
        code = proc.wait(timeout=60)
    finally:
        emulator.on_request = None
    assert code == -signal.SIGKILL, f"the apply finished after {seen} {method} requests"
    held = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"], env=_env(emulator))
    lock_id = held.output.split("force-unlock ")[1].split("`")[0]
    assert CliRunner().invoke(cli, ["force-unlock", "-f", str(manifest), lock_id]).exit_code == 0


def _env(emulator) -> dict[str, str]:
    return {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}


def _killed_run(emulator, root: Path, method: str, n: int, *, lockfile_before: bool = True) -> bytes | None:
    """Apply BEFORE (or nothing), then an apply of AFTER killed after the n-th `method` request. The
    lockfile's bytes before the killed run."""
    manifest = write_files(root, BEFORE if lockfile_before else {})
    if lockfile_before:
        apply_once(emulator, manifest)
    before = (root / "websets.lock").read_bytes() if lockfile_before else None
    write_files(root, AFTER)
    _kill_after(emulator, manifest, method, n)
    return before


def _remote_ids(emulator) -> dict[str, str]:
    return {i["metadata"]["websets-reconciler/key"]: i["id"] for i in emulator.store.list(200, None)["data"]}


@pytest.mark.parametrize("lockfile_before", [True, False], ids=["over-a-lockfile", "first-apply"])
@pytest.mark.parametrize(
    ("method", "n", "recorded", "in_flight"),
    [
        ("POST", 1, "", "a"),  # begin a written, its end not
        ("PUT", 1, "", "a"),  # a uploaded, not yet ended
        ("POST", 2, "a", "b"),  # a ended with its entry, not folded in; b begun
        ("POST", 3, "ab", "c"),
    ],
)
def test_a_killed_apply_leaves_its_steps_in_the_journal_and_the_next_finishes_them(
    make_emulator, tmp_path, method, n, recorded, in_flight, lockfile_before
):
    emulator = make_emulator()
    before = _killed_run(emulator, tmp_path, method, n, lockfile_before=lockfile_before)
    lock_file = tmp_path / "websets.lock"
    journal = tmp_path / "websets.lock.journal"

    # The killed run wrote nothing but its journal: the lockfile is the one it started from.
    assert journal.exists()
    assert (lock_file.read_bytes() if lock_file.exists() else None) == before
    lock = read_lock(lock_file, "growth")
    assert lock is not None
    start = parse_lock(before.decode(), "websets.lock") if before else None
    assert lock.serial == (start.serial if start else 0) + 1
    ids = _remote_ids(emulator)
    assert {k: e.id for k, e in lock.imports.items()} == {
        **({"x": ids["x"]} if before else {}),
        **{k: ids[k] for k in recorded},
    }
    assert [op.key for op in lock.journal] == [in_flight]
    if start is not None:
        assert lock.lineage == start.lineage

    manifest = tmp_path / "websets.yaml"
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, AFTER)
    assert not journal.exists()
    # One write when the journal was folded in, one at the end of the run that finished it.
    assert parse_lock(lock_file.read_text(), "websets.lock").serial == lock.serial + 1


def _valid_journal(emulator, root: Path) -> tuple[Path, Lock]:
    _killed_run(emulator, root, "POST", 2)
    lock = read_lock(root / "websets.lock", "growth")
    assert lock is not None and (root / "websets.lock.journal").exists()
    return root / "websets.lock.journal", lock


def _line(event: dict) -> bytes:
    from reconciler.apply.journal import encode

    return encode(event)


def test_an_apply_stopped_by_an_error_after_finishing_the_journal_still_folds_it_in(make_emulator, tmp_path):
    from reconciler.apply.run import ApplyOptions, Declined, apply
    from reconciler.remote.client import ApiClient

    emulator = make_emulator()
    journal, _ = _valid_journal(emulator, tmp_path)
    with ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None) as client, pytest.raises(Declined):
        apply(
            str(tmp_path / "websets.yaml"),
            client,
            ApplyOptions(poll=NO_WAIT_POLL),
            progress=lambda key, msg: None,
            show_plan=lambda plan: None,
            confirm=lambda plan: False,  # after the interrupted create of b was cleaned up
            sleep=lambda s: None,
        )
    assert not journal.exists()
    lock = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock")
    assert lock.journal == () and set(lock.imports) == {"a", "x"}
    assert set(_remote_ids(emulator)) == {"a", "x"}  # b's pending import was deleted


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(lambda: _line({"event": "forget", "key": "x"})[:-9], id="cut-short"),
        pytest.param(lambda: _line({"event": "forget", "key": "x"}).replace(b'"x"', b'"a"'), id="fails-its-check"),
        pytest.param(lambda: b"\x00" * 4096, id="zeros"),
        pytest.param(lambda: _line({"event": "forget", "key": "x"})[:-2] + b"\n", id="no-closing-brace"),
        pytest.param(lambda: _line({"event": "forget", "key": "x"})[:-9] + b"\x00" * 100, id="then-garbage"),
    ],
)
def test_a_torn_or_unchecked_last_line_is_ignored_never_misread(make_emulator, tmp_path, tail):
    emulator = make_emulator()
    journal, lock = _valid_journal(emulator, tmp_path)
    with journal.open("ab") as f:
        f.write(tail())
    assert read_lock(tmp_path / "websets.lock", "growth") == lock
    apply_once(emulator, tmp_path / "websets.yaml")
    assert_converged(emulator, tmp_path / "websets.yaml", AFTER)
    assert not journal.exists()


@pytest.mark.parametrize("line", [1, 2], ids=["header", "a-step"])
def test_a_line_edited_before_the_last_is_one_error_naming_it_and_nothing_is_dropped(make_emulator, tmp_path, line):
    emulator = make_emulator()
    journal, _ = _valid_journal(emulator, tmp_path)
    lines = journal.read_bytes().split(b"\n")
    assert len(lines) > line + 1  # checked lines follow the edited one
    lines[line - 1] = lines[line - 1].replace(b'"growth"', b'"growtH"').replace(b"false", b"true ")
    journal.write_bytes(b"\n".join(lines))
    before = (tmp_path / "websets.lock").read_bytes()
    with pytest.raises(LockfileError, match=rf"websets.lock.journal:{line}: the journal is corrupt: this line fails"):
        read_lock(tmp_path / "websets.lock", "growth")
    planned = CliRunner().invoke(cli, ["plan", "-f", str(tmp_path / "websets.yaml")], env=_env(emulator))
    assert planned.exit_code == 1
    assert f"websets.lock.journal:{line}: the journal is corrupt" in planned.output
    assert "Traceback" not in planned.output
    assert (tmp_path / "websets.lock").read_bytes() == before and journal.exists()


def test_a_journal_left_by_a_compaction_that_wrote_the_lockfile_is_stale_and_not_applied_again(make_emulator, tmp_path):
    emulator = make_emulator()
    journal, folded = _valid_journal(emulator, tmp_path)
    lock_file = tmp_path / "websets.lock"
    write_lock(lock_file, folded)  # the compaction's first half: the journal was not removed yet
    assert read_lock(lock_file, "growth") == folded  # not folded a second time (that would move the serial)
    planned = CliRunner().invoke(cli, ["plan", "-f", str(tmp_path / "websets.yaml")], env=_env(emulator))
    assert planned.exit_code == 0, planned.output
    assert journal.exists()  # plan never writes

    apply_once(emulator, tmp_path / "websets.yaml")
    assert_converged(emulator, tmp_path / "websets.yaml", AFTER)
    assert not journal.exists()
    assert parse_lock(lock_file.read_text(), "websets.lock").serial == folded.serial + 1


def test_a_journal_beside_a_lockfile_of_another_lineage_is_ignored_then_removed(emulator, tmp_path):
    from reconciler.apply.book import LockBook

    manifest = write_files(tmp_path, {"a": rows(1, "a")})
    apply_once(emulator, manifest)
    lock_file = tmp_path / "websets.lock"
    mine = parse_lock(lock_file.read_text(), "websets.lock")
    book = LockBook(lock_file, mine)
    bogus = LockEntry("imp_elsewhere", "T", Entity("company"), {}, False, "data/a.csv", "0" * 64, 1, 1, 2, 0)
    book.record("a", bogus)
    book.begin(Operation("op-elsewhere", "b", "create", None, "0" * 64))
    assert (tmp_path / "websets.lock.journal").exists() and parse_lock(lock_file.read_text(), "websets.lock") == mine
    assert read_lock(lock_file, "growth").imports["a"] == bogus  # the journal applies to this lockfile
    # The lockfile is replaced by one of another lineage (another checkout's, or one rebuilt from the stamps).
    other = Lock("growth", "another-lineage", mine.serial, mine.imports)
    write_lock(lock_file, other)

    assert read_lock(lock_file, "growth") == other
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, {"a": rows(1, "a")})
    assert not (tmp_path / "websets.lock.journal").exists()
    assert parse_lock(lock_file.read_text(), "websets.lock").lineage == "another-lineage"


def test_plan_reads_the_journal_and_writes_nothing(make_emulator, tmp_path):
    emulator = make_emulator()
    journal, _ = _valid_journal(emulator, tmp_path)
    manifest = tmp_path / "websets.yaml"
    files = _files(tmp_path)
    assert journal.name in files

    planned = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--detailed-exitcode"], env=_env(emulator))
    assert planned.exit_code == 2, planned.output
    assert "an interrupted apply left 1 create(s) in flight (b)" in planned.output  # b is read from the journal
    assert "+ a" not in planned.output  # recorded only by the journal's line for a
    assert "+ c" in planned.output
    assert _files(tmp_path) == files


def test_a_plan_saved_over_a_journal_records_the_serial_apply_writes_when_it_folds_the_journal_in(emulator, tmp_path):
    from reconciler.apply.book import LockBook

    manifest = write_files(tmp_path, {"x": rows(1, "x"), "y": rows(1, "y")})
    apply_once(emulator, manifest)
    lock_file = tmp_path / "websets.lock"
    lock = parse_lock(lock_file.read_text(), "websets.lock")
    # A run that deleted y was killed after writing that step to the journal.
    emulator.store.delete(lock.imports["y"].id)
    LockBook(lock_file, lock).forget("y")
    write_files(tmp_path, {"x": rows(1, "x"), "z": rows(1, "z")})
    assert (tmp_path / "websets.lock.journal").exists()

    saved = tmp_path / "plan.json"
    planned = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--out", str(saved)], env=_env(emulator))
    assert planned.exit_code == 0, planned.output
    assert json.loads(saved.read_text())["basis"]["lock_serial"] == lock.serial + 1
    applied = CliRunner().invoke(cli, ["apply", str(saved)], env=_env(emulator))
    assert applied.exit_code == 0, applied.output
    assert_converged(emulator, manifest, {"x": rows(1, "x"), "z": rows(1, "z")})
    assert not (tmp_path / "websets.lock.journal").exists()


def test_the_serial_moves_once_per_run_and_a_no_op_apply_writes_nothing(emulator, tmp_path):
    manifest = write_files(tmp_path, BEFORE)
    apply_once(emulator, manifest)
    lock_file = tmp_path / "websets.lock"
    serial = parse_lock(lock_file.read_text(), "websets.lock").serial
    write_files(tmp_path, AFTER)
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, AFTER)
    assert parse_lock(lock_file.read_text(), "websets.lock").serial == serial + 1
    files = _files(tmp_path)
    apply_once(emulator, manifest)
    assert _files(tmp_path) == files  # no diff, and no journal left beside it


def test_a_corrupt_event_is_one_line_naming_the_journal_and_its_line(make_emulator, tmp_path):
    emulator = make_emulator()
    journal, _ = _valid_journal(emulator, tmp_path)
    with journal.open("ab") as f:
        f.write(_line({"event": "record", "key": "a", "entry": {"id": "imp"}}))
    number = len(journal.read_bytes().splitlines())
    planned = CliRunner().invoke(cli, ["plan", "-f", str(tmp_path / "websets.yaml")], env=_env(emulator))
    assert planned.exit_code == 1
    assert planned.output.startswith(f"Error: {journal}:{number}: the journal is corrupt")
    assert len(planned.output.splitlines()) == 1 and "Traceback" not in planned.output


def test_concurrent_steps_share_an_fsync_and_each_returns_once_its_line_is_on_disk(tmp_path, monkeypatch):
    from reconciler.apply import journal as journal_module
    from reconciler.apply.book import LockBook

    workers = 16
    book = LockBook(tmp_path / "websets.lock", Lock("growth"))
    queued = threading.Semaphore(0)
    real_add = journal_module.Journal.add

    def add(self, line: bytes) -> int:
        ticket = real_add(self, line)
        queued.release()
        return ticket

    synced: list[int] = []
    real_sync = journal_module._fdatasync

    def sync(fd: int) -> None:
        if not synced:  # the first writer waits until every other step is queued behind it
            for _ in range(workers):
                assert queued.acquire(timeout=10)
        real_sync(fd)
        synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(journal_module.Journal, "add", add)
    monkeypatch.setattr(journal_module, "_fdatasync", sync)
    returned: dict[str, int] = {}

    def step(i: int) -> None:
        op = Operation(f"op-{i:02d}", f"k{i:02d}", "create", None, "0" * 64)
        book.begin(op)
        returned[op.operation] = synced[-1]  # how much of the file was durable when it returned

    threads = [threading.Thread(target=step, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    data = (tmp_path / "websets.lock.journal").read_bytes()
    assert 1 <= len(synced) <= 2  # the first step's write, and one for all those queued behind it
    for operation, durable in returned.items():
        assert data.index(operation.encode()) < durable
    assert sorted(op.operation for op in read_lock(tmp_path / "websets.lock", "growth").journal) == sorted(returned)


def test_quiet_folds_the_journal_into_the_lockfile_and_holds_off_every_later_write(tmp_path):
    from reconciler.apply.book import LockBook

    lock_file = tmp_path / "websets.lock"
    book = LockBook(lock_file, Lock("growth"))
    book.begin(Operation("op-1", "a", "create", None, "0" * 64))
    assert (tmp_path / "websets.lock.journal").exists() and not lock_file.exists()
    with book.quiet():
        assert not (tmp_path / "websets.lock.journal").exists()
        assert [op.key for op in parse_lock(lock_file.read_text(), "websets.lock").journal] == ["a"]
        later = threading.Thread(target=book.begin, args=(Operation("op-2", "b", "create", None, "0" * 64),))
        later.start()
        later.join(timeout=0.5)
        assert later.is_alive()  # its line waits: nothing is written while quiet is held
        assert not (tmp_path / "websets.lock.journal").exists()
    later.join(timeout=10)
    assert [op.key for op in read_lock(lock_file, "growth").journal] == ["a", "b"]
