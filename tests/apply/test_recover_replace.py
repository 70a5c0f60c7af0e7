"""An interrupted replace is finished only as the current manifest would make it, and a killed run's
never-uploaded imports never stand for a key that has a completed one: in neither case is the import
the manifest wants deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from reconciler.apply.book import LockBook
from reconciler.apply.recover import recover
from reconciler.cli import cli
from reconciler.emulator import FaultConfig, Rate
from reconciler.emulator.faults import FaultInjector
from reconciler.lockfile import Lock, LockEntry, Operation, parse_lock, write_lock
from reconciler.manifest.load import load_manifest
from reconciler.model import STAMP_KEY, STAMP_OPERATION, STAMP_OWNER, Manifest
from reconciler.remote.client import ApiClient
from reconciler.remote.state import read_remote
from tests.apply.helpers import NO_WAIT_POLL, apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed


def _protect(manifest: Path, key: str) -> Path:
    text = manifest.read_text()
    line = f"  {key}: {{title: Title {key}, csv: data/{key}.csv}}"
    assert line in text
    manifest.write_text(text.replace(line, line[:-1] + ", protected: true}"))
    return manifest


def _files(root: Path, files: dict[str, str], protected: str | None = None) -> Manifest:
    manifest = write_files(root, files)
    if protected:
        _protect(manifest, protected)
    return load_manifest(manifest)


def _in_flight(emulator, import_id: str, operation: str) -> None:
    """Stamp `import_id` as made by the create `operation` of an interrupted run."""
    record = emulator.store.get(import_id)
    emulator.store.update(import_id, {"metadata": {**record["metadata"], STAMP_OPERATION: operation}})


def _recover(emulator, root: Path, manifest: Manifest, lock: Lock, **options):
    book = LockBook(root / "websets.lock", lock)
    notes: list[str] = []
    with ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None) as client:
        recover(
            client,
            manifest,
            read_remote(client),
            book,
            lambda key, msg: notes.append(f"{key}: {msg}"),
            timeout=1,
            poll=NO_WAIT_POLL,
            sleep=lambda s: None,
            **options,
        )
    remaining = {i["id"] for i in emulator.store.list(200, None)["data"]}
    return remaining, book.state, notes


def _replace_in_flight(emulator, key: str, old_content: str, new_content: str) -> tuple[str, str, Operation]:
    old = seed(emulator, key, title=f"Title {key}", content=old_content)
    new = seed(emulator, key, title=f"Title {key}", content=new_content)
    _in_flight(emulator, new, f"op-{key}")
    return old, new, Operation(f"op-{key}", key, "replace", old, "0" * 64)


def test_an_interrupted_replace_of_a_protected_import_is_finished_only_with_force(emulator, tmp_path):
    wanted = rows(2, "a2")
    for force in (False, True):
        root = tmp_path / f"force-{force}"
        root.mkdir()
        manifest = _files(root, {"a": wanted}, protected="a")
        old, new, op = _replace_in_flight(emulator, "a", rows(2, "a"), wanted)
        lock = Lock("growth", imports={"a": LockEntry.of(manifest.imports["a"], old)}, journal=(op,))

        remaining, state, notes = _recover(emulator, root, manifest, lock, **({"force": True} if force else {}))
        assert state.journal == ()
        if force:
            assert new in remaining and old not in remaining
            assert notes == [f"a: interrupted replace: {new} completed", f"a: deleted {old}, which {new} replaces"]
        else:
            assert old in remaining and new not in remaining
            assert state.imports["a"].id == old
            assert notes == [
                f"a: interrupted replace: deleted {new} and kept {old}: "
                "the key is protected, and a replace needs --force"
            ]


def test_a_replace_the_manifest_no_longer_wants_is_undone_and_the_lockfile_names_the_old_import_again(
    emulator, tmp_path
):
    """The killed run had recorded the new import (just before deleting the old one); then the manifest
    went back (a) or moved on (b)."""
    manifest = _files(tmp_path, {"a": rows(2, "a"), "b": rows(2, "b3")})
    old_a, new_a, op_a = _replace_in_flight(emulator, "a", rows(2, "a"), rows(2, "a2"))
    old_b, new_b, op_b = _replace_in_flight(emulator, "b", rows(2, "b"), rows(2, "b2"))
    moved = {"a": LockEntry.of(manifest.imports["a"], new_a), "b": LockEntry.of(manifest.imports["b"], new_b)}

    remaining, state, notes = _recover(
        emulator, tmp_path, manifest, Lock("growth", imports=moved, journal=(op_a, op_b))
    )
    assert remaining == {old_a, old_b}
    assert state.journal == ()
    # a: the old import holds the manifest's CSV, so the lockfile records it with that CSV.
    assert state.imports["a"] == LockEntry.of(manifest.imports["a"], old_a)
    # b: what the old import holds is not the manifest's CSV: the entry goes, and the plan adopts it by its stamps.
    assert "b" not in state.imports
    assert notes == [
        f"a: interrupted replace: deleted {new_a} and kept {old_a}: it does not hold what the manifest now wants",
        f"b: interrupted replace: deleted {new_b} and kept {old_b}: it does not hold what the manifest now wants",
    ]


def test_an_interrupted_replace_of_a_key_that_left_the_manifest_keeps_the_old_import(emulator, tmp_path):
    manifest = _files(tmp_path, {"a": rows(2, "a")})
    old, new, op = _replace_in_flight(emulator, "gone", rows(2, "g"), rows(2, "g2"))
    remaining, _, notes = _recover(emulator, tmp_path, manifest, Lock("growth", journal=(op,)))
    assert old in remaining and new not in remaining
    assert notes == [f"gone: interrupted replace: deleted {new} and kept {old}: the key left the manifest"]


# -- end to end: an apply killed by the emulator right after it served a chosen request ------------------


def _killed_apply(emulator, manifest: Path, when: Callable[[str], bool], *args: str) -> None:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    command = [sys.executable, "-m", "reconciler", "apply", "-f", str(manifest), "--auto-approve", "--parallelism", "1"]
    proc = subprocess.Popen([*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def hook(phase: str, method: str, route: str) -> None:
        if phase == "after" and proc.returncode is None and when(method):
            os.kill(proc.pid, signal.SIGKILL)

    emulator.on_request = hook
    try:
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        emulator.on_request = None
    (manifest.parent / "websets.lock.held").unlink()  # the killed run's state lock, as force-unlock removes it


def _plan(emulator, manifest: Path):
    env = {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    return CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--detailed-exitcode"], env=env)


def _ours(emulator, key: str) -> dict[str, str]:
    """id -> status of each import of ours stamped with `key`."""
    return {
        i["id"]: i["status"]
        for i in emulator.store.list(200, None)["data"]
        if i["metadata"].get(STAMP_OWNER) == "growth" and i["metadata"].get(STAMP_KEY) == key
    }


def _recorded(root: Path) -> dict[str, str]:
    return {k: e.id for k, e in parse_lock((root / "websets.lock").read_text(), "websets.lock").imports.items()}


def test_a_killed_forced_replace_of_a_protected_import_whose_csv_then_went_back_keeps_that_import(
    make_emulator, clock, tmp_path
):
    emulator = make_emulator(clock=clock)
    files = {"a": rows(2, "a"), "b": rows(2, "b")}
    manifest = _protect(write_files(tmp_path, files), "a")
    apply_once(emulator, manifest)
    protected = _recorded(tmp_path)["a"]

    _protect(write_files(tmp_path, {**files, "a": rows(3, "a2")}), "a")
    emulator.store.processing_delay = 30.0  # the new import is processing when the run is killed
    _killed_apply(emulator, manifest, lambda method: method == "PUT", "--force")
    emulator.store.processing_delay = 0.0
    [new] = set(_ours(emulator, "a")) - {protected}
    clock.advance(60)  # ...and completes afterwards
    assert _ours(emulator, "a") == {protected: "completed", new: "completed"}
    _protect(write_files(tmp_path, files), "a")  # the change is taken back: the manifest wants `protected`

    planned = _plan(emulator, manifest)
    assert planned.exit_code == 0, planned.output
    assert (
        f"a: the next apply deletes {new}, made by an interrupted replace, and keeps {protected}: "
        "it does not hold what the manifest now wants"
    ) in planned.output
    assert "No changes." in planned.output

    apply_once(emulator, manifest)  # no --force
    assert _ours(emulator, "a") == {protected: "completed"}
    assert_converged(emulator, manifest, files)
    assert _plan(emulator, manifest).exit_code == 0


def test_with_the_lockfile_deleted_after_a_killed_apply_the_completed_imports_stay_until_replaced(
    make_emulator, clock, tmp_path
):
    emulator = make_emulator(clock=clock)
    manifest = write_files(tmp_path, {"a": rows(2, "a"), "b": rows(2, "b")})
    apply_once(emulator, manifest)
    v2 = {"a": rows(2, "a2"), "b": rows(2, "b2")}
    write_files(tmp_path, v2)
    apply_once(emulator, manifest)
    completed = _recorded(tmp_path)

    v3 = {"a": rows(2, "a3"), "b": rows(2, "b3")}
    write_files(tmp_path, v3)
    _killed_apply(emulator, manifest, lambda method: method == "POST")  # a's new import never gets its CSV
    [pending] = set(_ours(emulator, "a")) - {completed["a"]}
    assert _ours(emulator, "a")[pending] == "pending"
    (tmp_path / "websets.lock").unlink()  # the remedy for a merge conflict: rebuilt from the remote stamps

    planned = _plan(emulator, manifest)
    assert planned.exit_code == 2, planned.output
    assert (
        f"a: 2 remote imports are stamped with this key; using {completed['a']}; not touching {pending}, "
        "still in flight"
    ) in planned.output
    assert "apply deletes" not in planned.output

    emulator.faults = FaultInjector(FaultConfig(errors=Rate(1.0, frozenset({"POST"}))))
    _, result = apply_once(emulator, manifest)
    assert sorted(f.key for f in result.failures) == ["a", "b"]
    for key in "ab":  # every replace failed: the completed imports still serve
        assert _ours(emulator, key)[completed[key]] == "completed"

    emulator.faults = FaultInjector(FaultConfig())
    apply_once(emulator, manifest)
    recorded = _recorded(tmp_path)
    for key in "ab":
        assert emulator.store.uploaded_file(recorded[key]) == v3[key].encode()
        assert _ours(emulator, key)[recorded[key]] == "completed"
    assert _ours(emulator, "a") == {recorded["a"]: "completed", pending: "pending"}  # in flight: not touched
    assert _ours(emulator, "b") == {recorded["b"]: "completed"}


def test_a_saved_forced_plan_finishes_an_interrupted_replace_of_a_protected_import_as_it_said(emulator, tmp_path):
    """The saved plan read the journal as recovery without --force does: apply keeps to it, and is not stale."""
    manifest = _protect(write_files(tmp_path, {"a": rows(2, "a")}), "a")
    apply_once(emulator, manifest)
    lock_file = tmp_path / "websets.lock"
    lock = parse_lock(lock_file.read_text(), "websets.lock")
    protected = lock.imports["a"].id
    wanted = {"a": rows(3, "a2")}
    _protect(write_files(tmp_path, wanted), "a")
    new = seed(emulator, "a", title="Title a", content=wanted["a"])
    _in_flight(emulator, new, "op-a")
    op = Operation("op-a", "a", "replace", protected, "0" * 64)
    write_lock(lock_file, Lock(lock.owner, lock.lineage, lock.serial, lock.imports, (op,)))

    env = {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    plan_file = tmp_path / "plan.json"
    planned = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--out", str(plan_file), "--force"], env=env)
    assert planned.exit_code == 0, planned.output
    assert (
        f"a: the next apply deletes {new}, made by an interrupted replace, and keeps {protected}: "
        "the key is protected, and a replace needs --force"
    ) in planned.output
    assert f"-/+ a ({protected})" in planned.output

    applied = CliRunner().invoke(cli, ["apply", str(plan_file), "--force"], env=env)
    assert applied.exit_code == 0, applied.output
    assert f"a: interrupted replace: deleted {new} and kept {protected}" in applied.output
    assert_converged(emulator, manifest, wanted)
