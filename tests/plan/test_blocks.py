"""The planner's rules for the manifest's adopt, moved and removed blocks, --replace, globs and
--refresh-only, on plain values."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.errors import ConfigError
from reconciler.lockfile import Lock, LockEntry
from reconciler.model import STAMP_KEY, STAMP_OWNER, Adoption, DesiredImport, Entity, Manifest, Move, Removal, Safety
from reconciler.plan.drift import build_refresh_plan, refreshed_entries
from reconciler.plan.model import Action, Reason, Selection
from reconciler.plan.planner import build_plan
from reconciler.remote.state import RemoteImport
from tests.plan.test_planner import NOW, desired, lock_of, remote


def dashboard(import_id: str, *, title: str = "From the dashboard", count: int = 1, **changes) -> RemoteImport:
    """An import made outside the tool: no stamps."""
    base = RemoteImport(
        import_id,
        "completed",
        title,
        Entity("company"),
        count,
        {"team": "x"},
        "2030-03-17T17:00:00Z",
        "2030-03-17T17:00:00Z",
    )
    return replace(base, **changes)


def unmanaged_content(key: str, title: str | None = None) -> DesiredImport:
    return DesiredImport(key, title or key, Entity("company"), {"team": "x"}, False, None, 1)


def manifest(imports, *, adopt=None, moved=None, removed=(), protected_lock=False) -> Manifest:
    return Manifest(
        "websets.yaml",
        "o",
        Safety(),
        {d.key: d for d in imports},
        adopt={k: Adoption(k, i, 3) for k, i in (adopt or {}).items()},
        moved={old: Move(old, new, 5) for old, new in (moved or {}).items()},
        removed={k: Removal(k, 7) for k in removed},
    )


# -- adopt ------------------------------------------------------------------------------------------


def test_an_adopted_import_that_matches_is_taken_over_in_place():
    plan = build_plan(
        manifest([desired("customers")], adopt={"customers": "imp_1"}), [dashboard("imp_1")], None, now=NOW
    )
    (change,) = plan.actionable
    assert (change.action, change.reason, change.id) == (Action.ADOPT, Reason.ADOPT_REQUESTED, "imp_1")
    assert change.changed_fields == ("metadata.team", "title", "metadata.stamps")
    assert (plan.managed, plan.unmanaged) == (1, 0)


def test_adopting_an_import_whose_records_differ_is_refused_naming_both_values():
    with pytest.raises(ConfigError) as error:
        build_plan(
            manifest([desired("customers")], adopt={"customers": "imp_1"}), [dashboard("imp_1", count=5)], None, now=NOW
        )
    assert (
        "websets.yaml:3: adopt customers: import imp_1 does not match the manifest: records: remote 5, d.csv 1"
        in str(error.value)
    )
    assert "--replace customers" in str(error.value)


def test_adopting_with_replace_adopts_then_replaces():
    plan = build_plan(
        manifest([desired("customers")], adopt={"customers": "imp_1"}),
        [dashboard("imp_1", entity=Entity("person"))],
        None,
        now=NOW,
        replace_keys=frozenset({"customers"}),
    )
    (change,) = plan.actionable
    assert (change.action, change.reason, change.adopting) == (Action.REPLACE, Reason.REPLACE_REQUESTED, True)
    assert "entity.type" in change.changed_fields


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (dashboard("imp_1", metadata={STAMP_OWNER: "other"}), "is stamped with owner 'other'"),
        (dashboard("imp_1", status="processing"), "is processing; only a completed import can be adopted"),
        (dashboard("imp_2"), "no import imp_1 in the remote"),
        (dashboard("imp_1", metadata={STAMP_OWNER: "o", STAMP_KEY: "other-key"}), "already managed as 'other-key'"),
    ],
)
def test_adopt_refusals(found, message):
    with pytest.raises(ConfigError, match=message):
        build_plan(manifest([desired("customers")], adopt={"customers": "imp_1"}), [found], None, now=NOW)


def test_an_adopt_entry_is_a_noop_once_applied():
    r = remote("customers")
    plan = build_plan(manifest([desired("customers")], adopt={"customers": r.id}), [r], lock_of(["customers"]), now=NOW)
    assert not plan.has_changes


def test_an_adopt_entry_naming_another_live_import_than_the_managed_one_is_refused():
    r = remote("customers")
    with pytest.raises(ConfigError, match="already managed as import id_customers, and imp_9 is another"):
        build_plan(
            manifest([desired("customers")], adopt={"customers": "imp_9"}), [r, dashboard("imp_9")], None, now=NOW
        )


def test_an_import_without_csv_is_compared_on_title_metadata_and_entity_only():
    d = unmanaged_content("list", title="From the dashboard")
    adopted = build_plan(manifest([d], adopt={"list": "imp_1"}), [dashboard("imp_1", count=77)], None, now=NOW)
    assert [c.changed_fields for c in adopted.actionable] == [("metadata.stamps",)]
    stamped = dashboard("imp_1", count=77, metadata={"team": "x", STAMP_OWNER: "o", STAMP_KEY: "list"})
    assert not build_plan(manifest([d], adopt={"list": "imp_1"}), [stamped], None, now=NOW).has_changes
    with pytest.raises(ConfigError, match="without csv none can be created"):
        build_plan(manifest([d]), [], None, now=NOW)
    with pytest.raises(ConfigError, match="--replace list: the key has no csv"):
        build_plan(manifest([d]), [stamped], None, now=NOW, replace_keys=frozenset({"list"}))


# -- moved and removed ------------------------------------------------------------------------------


def test_a_moved_key_keeps_its_import_and_moves_its_lockfile_entry():
    plan = build_plan(manifest([desired("b")], moved={"a": "b"}), [remote("a")], lock_of(["a"]), now=NOW)
    (change,) = plan.actionable
    assert (change.action, change.key, change.moved_from, change.id) == (Action.MOVE, "b", "a", "id_a")
    assert change.changed_fields == ("key", "title")  # the title defaults to the key in these fixtures
    assert not plan.orphans and not plan.warnings and plan.adopted == ()


def test_a_chain_of_moves_resolves_to_its_last_key():
    plan = build_plan(manifest([desired("c")], moved={"a": "c", "b": "c"}), [remote("b")], lock_of(["b"]), now=NOW)
    assert [(c.action, c.moved_from, c.key) for c in plan.actionable] == [(Action.MOVE, "b", "c")]


def test_a_move_onto_a_key_that_has_an_import_is_refused():
    with pytest.raises(ConfigError, match="both keys have an import"):
        build_plan(manifest([desired("b")], moved={"a": "b"}), [remote("a"), remote("b")], lock_of(["a", "b"]), now=NOW)


def test_a_move_is_a_noop_once_applied():
    assert not build_plan(
        manifest([desired("b")], moved={"a": "b"}), [remote("b")], lock_of(["b"]), now=NOW
    ).has_changes


def test_a_moved_import_whose_csv_changed_is_replaced_under_its_new_key():
    plan = build_plan(manifest([desired("b", sha="b" * 64)], moved={"a": "b"}), [remote("a")], lock_of(["a"]), now=NOW)
    (change,) = plan.actionable
    assert (change.action, change.moved_from) == (Action.REPLACE, "a")


def test_a_removed_key_is_forgotten_not_deleted_nor_orphaned():
    lock = Lock("o", "l", 1, {"old": replace(lock_of(["old"]).imports["old"], protected=True)})
    plan = build_plan(manifest([], removed=["old"]), [remote("old")], lock, now=NOW)
    (change,) = plan.actionable
    assert (change.action, change.after) == (Action.FORGET, None)
    assert not plan.orphans and not plan.warnings
    assert plan.unsafe == ("old is protected and would be forgotten",)


def test_a_forgotten_import_is_unmanaged_on_the_next_plan():
    gone = dashboard("id_old")
    plan = build_plan(manifest([], removed=["old"]), [gone], None, now=NOW)
    assert not plan.has_changes and plan.unmanaged == 1


# -- targeting ----------------------------------------------------------------------------------------


def test_targets_and_excludes_take_globs():
    keys = ["prospects-emea", "prospects-us", "customers"]
    m = manifest([desired(k) for k in keys])
    plan = build_plan(m, [], None, now=NOW, targets=Selection(("prospects-*",), ("*-us",)))
    assert [c.key for c in plan.changes] == ["prospects-emea"]
    with pytest.raises(ConfigError, match=r"--exclude nothing-\*: no such key"):
        build_plan(m, [], None, now=NOW, targets=Selection((), ("nothing-*",)))


def test_replace_forces_a_replace_of_a_key_in_sync():
    plan = build_plan(manifest([desired("a")]), [remote("a")], lock_of(["a"]), now=NOW, replace_keys=frozenset({"a"}))
    assert [(c.action, c.reason) for c in plan.actionable] == [(Action.REPLACE, Reason.REPLACE_REQUESTED)]
    with pytest.raises(ConfigError, match="--replace zz: no such key"):
        build_plan(manifest([desired("a")]), [], None, now=NOW, replace_keys=frozenset({"zz"}))


# -- refresh-only ---------------------------------------------------------------------------------------


def test_refresh_only_shows_remote_edits_and_deletions_and_records_them():
    lock = lock_of(["a", "b", "c"])
    edited = replace(remote("a"), title="Edited in the dashboard")
    plan = build_refresh_plan(manifest([desired(k) for k in "abc"]), [edited, remote("c")], lock)
    assert plan.refresh_only
    assert [(c.key, c.action, c.reason) for c in plan.actionable] == [
        ("a", Action.REFRESH, Reason.REMOTE_EDITED),
        ("b", Action.REFRESH, Reason.REMOTE_DELETED),
    ]
    entries = refreshed_entries(lock.imports, plan.changes)
    assert set(entries) == {"a", "c"}
    assert entries["a"].title == "Edited in the dashboard"
    assert entries["a"].path == lock.imports["a"].path and entries["c"] == lock.imports["c"]


def test_lock_entry_of_an_import_without_csv_keeps_the_remote_count():
    entry = LockEntry.of(unmanaged_content("list"), "imp_1", records=77)
    assert (entry.records, entry.sha256, entry.path) == (77, None, None)
    assert LockEntry.from_json(entry.to_json()) == entry
