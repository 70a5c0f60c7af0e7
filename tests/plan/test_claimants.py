"""Which of several imports of ours stands for a key, and what the plan says the next apply's recovery
does with the creates an interrupted apply left in flight. Plain values, no emulator."""

from __future__ import annotations

from reconciler.lockfile import Lock, LockEntry, Operation
from reconciler.model import (
    STAMP_IDENTIFIER,
    STAMP_KEY,
    STAMP_OPERATION,
    STAMP_OWNER,
    STAMP_SHA256,
    CsvFile,
    DesiredImport,
    Entity,
    Manifest,
    Safety,
)
from reconciler.plan import planner
from reconciler.plan.model import Action, Reason
from reconciler.plan.planner import build_plan, pick_claimant
from reconciler.remote.state import RemoteImport, parse_time

NOW = parse_time("2030-01-01T10:00:00Z")
WANTED, OLDER = "a" * 64, "b" * 64


def desired(key: str, *, protected: bool = False) -> DesiredImport:
    csv = CsvFile("d.csv", "d.csv", "/x/d.csv", 0, "url", WANTED, 10, 1, 2)
    return DesiredImport(key, key, Entity("company"), {}, protected, csv, 1)


def manifest(*keys: str, protected: tuple[str, ...] = ()) -> Manifest:
    return Manifest("websets.yaml", "o", Safety(), {k: desired(k, protected=k in protected) for k in keys})


def item(
    id_: str, status: str, minute: int, *, key: str = "k", sha: str = WANTED, operation: str | None = None
) -> RemoteImport:
    meta = {STAMP_OWNER: "o", STAMP_KEY: key, STAMP_SHA256: sha, STAMP_IDENTIFIER: "0"}
    if operation:
        meta[STAMP_OPERATION] = operation
    created = f"2030-01-01T09:{minute:02d}:00Z"
    return RemoteImport(id_, status, key, Entity("company"), 1, meta, created, created)


def lock(entries: dict[str, str], journal: tuple[Operation, ...] = ()) -> Lock:
    recorded = {
        key: LockEntry(import_id, key, Entity("company"), {}, False, "d.csv", WANTED, 10, 1, 2, 0)
        for key, import_id in entries.items()
    }
    return Lock("o", "lineage", 3, recorded, journal)


def test_a_completed_import_stands_for_the_key_before_any_in_flight_even_the_lockfiles():
    completed = item("done", "completed", 10, sha=OLDER)
    pending = item("pending", "pending", 50)
    processing = item("processing", "processing", 55)
    candidates = [completed, pending, processing]
    assert pick_claimant(candidates, None, desired("k")) is completed
    assert pick_claimant(candidates, "processing", desired("k")) is completed
    assert pick_claimant(candidates, "pending", None) is completed
    # With none completed: the lockfile's, else the newest.
    failed = item("failed", "failed", 10)
    assert pick_claimant([failed, pending], "failed", desired("k")) is failed
    assert pick_claimant([failed, pending], None, desired("k")) is pending


def test_among_completed_imports_the_lockfiles_then_the_newest_holding_the_manifest_then_the_newest():
    old_match = item("old_match", "completed", 10)
    new_match = item("new_match", "completed", 20)
    newest_other = item("newest_other", "completed", 30, sha=OLDER)
    candidates = [old_match, newest_other, new_match]
    assert pick_claimant(candidates, "old_match", desired("k")) is old_match
    assert pick_claimant(candidates, None, desired("k")) is new_match
    assert pick_claimant(candidates, None, None) is newest_other
    # Another entity or identifier column is not what the manifest wants, whatever the CSV.
    other_entity = RemoteImport(
        "other_entity", "completed", "k", Entity("person"), 1, new_match.metadata, "2030-01-01T09:40:00Z", ""
    )
    assert pick_claimant([new_match, other_entity], None, desired("k")) is new_match


def test_a_lost_lockfile_keeps_the_completed_import_and_leaves_the_killed_runs_pending_one_alone():
    """The lockfile was deleted after a killed apply: its creates are pending, its predecessors completed."""
    completed = item("v2", "completed", 10, sha=OLDER)
    pending = item("v3", "pending", 55, operation="op-3")
    plan = build_plan(manifest("k"), [completed, pending], None, now=NOW)
    assert plan.warnings == (
        "k: 2 remote imports are stamped with this key; using v2; not touching v3, still in flight",
    )
    assert plan.strays == ()
    [change] = plan.changes
    assert (change.action, change.reason, change.id) == (Action.REPLACE, Reason.CSV_CHANGED, "v2")


def test_replace_blocked_names_why_an_interrupted_replace_is_not_finished():
    replace_blocked = planner.replace_blocked
    new = item("new", "completed", 50)
    assert replace_blocked(new, "k", manifest("k"), force=False) is None
    assert replace_blocked(item("new", "completed", 50, sha=OLDER), "k", manifest("k"), force=False) == (
        "it does not hold what the manifest now wants"
    )
    assert replace_blocked(new, "k", manifest("other"), force=False) == "the key left the manifest"
    assert replace_blocked(new, "k", manifest("k", protected=("k",)), force=False) == (
        "the key is protected, and a replace needs --force"
    )
    assert replace_blocked(new, "k", manifest("k", protected=("k",)), force=True) is None


def test_the_plan_shows_each_key_as_it_stands_once_recovery_has_finished_the_journal():
    keys = ("kept", "finished", "waiting", "protected", "given_up", "left")
    remote = [item(f"{k}_old", "completed", 10, key=k) for k in keys]
    remote += [
        item("kept_new", "completed", 50, key="kept", sha=OLDER, operation="op-kept"),
        item("finished_new", "completed", 50, key="finished", operation="op-finished"),
        item("waiting_new", "processing", 50, key="waiting", operation="op-waiting"),
        item("protected_new", "completed", 50, key="protected", operation="op-protected"),
        item("given_up_new", "completed", 50, key="given_up", operation="op-given_up"),
        item("left_new", "completed", 50, key="left", operation="op-left"),
    ]
    journal = tuple(Operation(f"op-{k}", k, "replace", f"{k}_old", WANTED, abandoned=k == "given_up") for k in keys)
    m = manifest(*keys[:-1], protected=("protected",))
    plan = build_plan(m, remote, lock({k: f"{k}_old" for k in keys}, journal), now=NOW)

    made = "made by an interrupted replace"
    assert plan.warnings == (
        "waiting: 2 remote imports are stamped with this key; using waiting_old",
        "an interrupted apply left 6 create(s) in flight (finished, given_up, kept, left, protected, waiting); "
        "the next apply finishes or cleans them up",
        f"finished: the next apply keeps finished_new, {made}, and deletes finished_old, which it replaces",
        "given_up: the next apply deletes given_up_new, made by a create that was given up on (completed)",
        f"kept: the next apply deletes kept_new, {made}, and keeps kept_old: "
        "it does not hold what the manifest now wants",
        f"left: the next apply deletes left_new, {made}, and keeps left_old: the key left the manifest",
        f"protected: the next apply deletes protected_new, {made}, and keeps protected_old: "
        "the key is protected, and a replace needs --force",
        f"waiting: the next apply waits for waiting_new, {made}, and once it completes deletes waiting_old, "
        "which it replaces",
    )
    assert {c.key: c.id for c in plan.changes} == {
        "kept": "kept_old",
        "finished": "finished_new",
        "waiting": "waiting_old",
        "protected": "protected_old",
        "given_up": "given_up_old",
    }
    assert plan.strays == ()
    assert plan.adopted == ("finished",)
    assert plan.safe
