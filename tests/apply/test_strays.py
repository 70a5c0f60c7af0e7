"""Other imports of ours claiming a key (settled duplicates, uploads that never happened) are deleted by
apply exactly as the plan announced: after confirmation, only for the targeted keys, never what the plan
said it would not touch."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconciler.apply.run import ApplyOptions, Declined, apply
from reconciler.cli import cli
from reconciler.lockfile import Lock, Operation, parse_lock, write_lock
from reconciler.model import STAMP_OPERATION
from reconciler.plan.planner import split_others
from reconciler.remote.client import ApiClient
from reconciler.remote.state import RemoteImport
from tests.apply.helpers import NO_WAIT_POLL, apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed


def _apply(emulator, manifest, *, confirm=True, targets=None):
    notes: list[str] = []
    with ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None) as client:
        apply(
            str(manifest),
            client,
            ApplyOptions(targets=targets, poll=NO_WAIT_POLL),
            progress=lambda key, msg: notes.append(f"{key}: {msg}"),
            show_plan=lambda plan: notes.extend(plan.warnings),
            confirm=lambda plan: confirm,
            sleep=lambda s: None,
        )
    return notes


def _ids(emulator) -> set[str]:
    return {i["id"] for i in emulator.store.list(200, None)["data"]}


def test_a_duplicate_is_deleted_only_once_confirmed_and_for_its_targeted_key(emulator, tmp_path, clock, monkeypatch):
    files = {"a": rows(1, "a"), "b": rows(1, "b")}
    manifest = write_files(tmp_path, files)
    apply_once(emulator, manifest)
    kept = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock").imports["a"].id
    clock.advance(1)
    duplicate = seed(emulator, "a", title="Title a", content=rows(1, "a"))

    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    planned = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--detailed-exitcode"])
    assert planned.exit_code == 2
    assert f"using {kept}; apply deletes {duplicate}" in planned.output

    with pytest.raises(Declined):
        _apply(emulator, manifest, confirm=False)
    _apply(emulator, manifest, targets=frozenset({"b"}))
    assert duplicate in _ids(emulator)  # declined, then not targeted: untouched

    notes = _apply(emulator, manifest)
    assert f"a: deleted {duplicate}, a duplicate of {kept}" in notes
    assert_converged(emulator, manifest, files)


def test_an_import_in_flight_is_reported_untouched_and_left_alone(emulator, tmp_path, clock):
    files = {"a": rows(1, "a")}
    manifest = write_files(tmp_path, files)
    apply_once(emulator, manifest)
    kept = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock").imports["a"].id
    clock.advance(1)
    young = seed(emulator, "a", upload=False)  # perhaps another machine's apply, about to upload
    notes = _apply(emulator, manifest)
    assert (
        f"a: 2 remote imports are stamped with this key; using {kept}; not touching {young}, still in flight" in notes
    )
    assert young in _ids(emulator)
    assert not any("deleted" in n for n in notes)


def test_an_interrupted_create_beside_the_recorded_import_is_reported_once_as_what_became_of_it(
    emulator, tmp_path, clock
):
    """The journal's import completed beside the one the lockfile records: the messages agree with what is done."""
    files = {"a": rows(1, "a")}
    manifest = write_files(tmp_path, files)
    apply_once(emulator, manifest)
    lock_file = tmp_path / "websets.lock"
    lock = parse_lock(lock_file.read_text(), "websets.lock")
    recorded = lock.imports["a"].id
    clock.advance(1)
    made = seed(emulator, "a", title="Title a", content=rows(1, "a"))
    emulator.store.update(made, {"metadata": {**emulator.store.get(made)["metadata"], STAMP_OPERATION: "op-1"}})
    write_lock(
        lock_file,
        Lock(lock.owner, lock.lineage, lock.serial, lock.imports, (Operation("op-1", "a", "create", None, "0" * 64),)),
    )

    notes = _apply(emulator, manifest)
    about = [n for n in notes if made in n]
    assert about == [
        f"a: interrupted create: {made} completed",
        f"a: 2 remote imports are stamped with this key; using {recorded}; apply deletes {made}",
        f"a: deleted {made}, a duplicate of {recorded}",
    ]
    assert _ids(emulator) == {recorded}


def test_the_others_of_a_key_are_split_by_whether_they_can_still_become_usable():
    def item(n: int, status: str, created: str) -> RemoteImport:
        return RemoteImport(f"id{n}", status, "", None, 0, {}, created, created)

    chosen = item(0, "completed", "2030-01-01T10:00:00Z")
    now = 1893492000.0  # 2030-01-01T10:00:00Z
    others = [
        item(1, "completed", "2030-01-01T09:59:00Z"),
        item(2, "failed", "2030-01-01T09:59:00Z"),
        item(3, "pending", "2030-01-01T09:59:00Z"),
        item(4, "processing", "2030-01-01T09:59:00Z"),
        item(5, "pending", "2030-01-01T08:00:00Z"),
    ]
    doomed, left = split_others([chosen, *others], chosen, now)
    assert [(r.id, why) for r, why in doomed] == [
        ("id1", "a duplicate of id0"),
        ("id2", "a duplicate of id0"),
        ("id5", "an import whose upload never happened"),
    ]
    assert left == [(others[2], "still in flight"), (others[3], "still in flight")]


def test_a_settled_import_lately_made_by_a_create_this_checkout_does_not_know_is_left_alone():
    def item(n: int, status: str, created: str, operation: str) -> RemoteImport:
        return RemoteImport(f"id{n}", status, "", None, 0, {STAMP_OPERATION: operation}, created, created)

    now = 1893492000.0  # 2030-01-01T10:00:00Z
    chosen = item(0, "completed", "2030-01-01T08:00:00Z", "op-0")
    young = item(1, "completed", "2030-01-01T09:58:00Z", "op-elsewhere")  # another apply may be finishing it
    old = item(2, "completed", "2030-01-01T08:29:00Z", "op-elsewhere-too")  # 91 min: that apply is long over
    ours = item(3, "failed", "2030-01-01T09:58:00Z", "op-ours")  # this checkout's own interrupted create
    doomed, left = split_others([chosen, young, old, ours], chosen, now, frozenset({"op-ours"}))
    assert [r.id for r, _ in doomed] == ["id2", "id3"]
    assert left == [(young, "made 2 min ago by another apply, which seems to be running")]
