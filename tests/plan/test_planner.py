"""The planner on plain values: safety rules and the Markdown size limit."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from reconciler.errors import ConfigError, LockfileError
from reconciler.lockfile import Lock, LockEntry
from reconciler.model import (
    STAMP_IDENTIFIER,
    STAMP_KEY,
    STAMP_OWNER,
    STAMP_SHA256,
    CsvFile,
    DesiredImport,
    Entity,
    Manifest,
    Safety,
)
from reconciler.plan.model import Action, Origin, Reason
from reconciler.plan.planner import build_plan
from reconciler.remote.state import RemoteImport
from reconciler.render.plan_markdown import render_markdown

NOW = 1_900_000_000.0


def desired(key: str, sha: str = "a" * 64, protected: bool = False) -> DesiredImport:
    csv = CsvFile("d.csv", "d.csv", "/x/d.csv", 0, "url", sha, 10, 1, 1)
    return DesiredImport(key, key, Entity("company"), {}, protected, csv, 1)


def remote(key: str, sha: str = "a" * 64, owner: str = "o") -> RemoteImport:
    meta = {STAMP_OWNER: owner, STAMP_KEY: key, STAMP_SHA256: sha, STAMP_IDENTIFIER: "0"}
    return RemoteImport(
        f"id_{key}", "completed", key, Entity("company"), 1, meta, "2030-03-17T17:00:00Z", "2030-03-17T17:00:00Z"
    )


def manifest(keys, safety: Safety | None = None, protected=()) -> Manifest:
    return Manifest("websets.yaml", "o", safety or Safety(), {k: desired(k, protected=k in protected) for k in keys})


def lock_of(keys, protected=()) -> Lock:
    entries = {
        k: LockEntry(f"id_{k}", k, Entity("company"), {}, k in protected, "d.csv", "a" * 64, 10, 1, 1, 0) for k in keys
    }
    return Lock("o", "lineage", 1, entries)


def test_protected_delete_is_unsafe():
    keys = ["a", "b"]
    plan = build_plan(
        manifest(["a"], Safety(prune=True, min_managed_for_percent=10)),
        [remote(k) for k in keys],
        lock_of(keys, protected={"b"}),
        now=NOW,
    )
    assert [c.action for c in plan.actionable] == [Action.DELETE]
    assert plan.unsafe == ("b is protected and would be deleted",)


def test_replace_threshold_applies_only_from_the_minimum():
    keys = [f"k{i}" for i in range(10)]
    changed = {k: desired(k, sha="b" * 64) for k in keys[:6]}
    m = manifest(keys, Safety(max_replace_percent=50, min_managed_for_percent=10))
    m.imports.update(changed)
    plan = build_plan(m, [remote(k) for k in keys], lock_of(keys), now=NOW)
    assert plan.count(Action.REPLACE) == 6
    assert plan.unsafe == ("replaces: 6 of 10 managed imports (60%) is above max_replace_percent 50%",)
    small = Manifest("websets.yaml", "o", Safety(max_replace_percent=50, min_managed_for_percent=11), m.imports)
    assert build_plan(small, [remote(k) for k in keys], lock_of(keys), now=NOW).safe


def test_deletes_within_threshold_are_safe():
    keys = [f"k{i}" for i in range(10)]
    plan = build_plan(manifest(keys[:7], Safety(prune=True)), [remote(k) for k in keys], lock_of(keys), now=NOW)
    assert plan.count(Action.DELETE) == 3 and plan.safe


def test_key_stamp_removed_in_dashboard_is_restored_not_orphaned():
    r = RemoteImport(
        "id_a",
        "completed",
        "a",
        Entity("company"),
        1,
        {STAMP_OWNER: "o"},
        "2030-03-17T17:00:00Z",
        "2030-03-17T17:00:00Z",
    )
    plan = build_plan(manifest(["a"]), [r], lock_of(["a"]), now=NOW)
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.changed_fields == ("metadata.stamps",)


@pytest.mark.parametrize(
    ("metadata", "found"),
    [({}, "carries no owner stamp"), ({STAMP_OWNER: "sales", STAMP_KEY: "a"}, "is stamped with owner 'sales'")],
)
def test_a_lockfile_entry_never_claims_an_import_not_stamped_as_ours(metadata, found):
    """Whatever the lockfile says, an import without our owner stamp is neither updated, replaced nor deleted."""
    r = RemoteImport(
        "id_a", "completed", "x", Entity("company"), 1, metadata, "2030-03-17T17:00:00Z", "2030-03-17T17:00:00Z"
    )
    for keys, safety in ((["a"], Safety()), ([], Safety(prune=True))):
        with pytest.raises(LockfileError) as caught:
            build_plan(manifest(keys, safety), [r], lock_of(["a"]), now=NOW)
        message = str(caught.value)
        assert message.startswith("websets.lock: a records import id_a, which " + found)
        assert "\n" not in message and "Remove the entry" in message


def test_a_pending_import_is_in_sync_only_when_its_upload_was_recorded():
    pending = replace(remote("a"), status="pending")
    recorded = build_plan(manifest(["a"]), [pending], lock_of(["a"]), now=NOW)
    assert recorded.changes[0].action is Action.NOOP
    for lock in (None, lock_of([])):
        (change,) = build_plan(manifest(["a"]), [pending], lock, now=NOW).changes
        assert (change.action, change.reason) == (Action.REPLACE, Reason.UPLOAD_MISSING)
        assert change.id == "id_a" and change.origin is Origin.REMOTE


def test_targets_must_exist():
    with pytest.raises(ConfigError, match="--target zzz"):
        build_plan(manifest(["a"]), [], None, now=NOW, targets=frozenset({"zzz"}))


def test_markdown_is_capped_at_60000_characters():
    keys = [f"import-{i:05d}-with-a-long-key" for i in range(3000)]
    plan = build_plan(manifest(keys), [], None, now=NOW)
    text = render_markdown(plan)
    assert len(text) <= 60_000
    assert text.startswith("<!-- websets-reconciler:plan -->")
    assert "**Plan: 3000 to create, 0 to update, 0 to replace, 0 to delete.**" in text
    assert "not shown; the full plan is in the JSON artifact" in text
    assert text.rstrip().endswith("</details>")
    assert hashlib.sha256(text.encode()).hexdigest() == hashlib.sha256(render_markdown(plan).encode()).hexdigest()
