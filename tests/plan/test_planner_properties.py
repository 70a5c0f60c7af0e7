"""Invariants of the planner over random desired, remote and lock states (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.lockfile import Lock, LockEntry
from reconciler.model import STAMP_IDENTIFIER, STAMP_KEY, STAMP_OWNER, STAMP_SHA256, Entity, Manifest, Safety
from reconciler.plan.model import Action
from reconciler.plan.planner import build_plan
from reconciler.remote.state import RemoteImport
from reconciler.render.plan_json import render_json
from tests.plan.test_planner import NOW, desired

KEYS = ["a", "b", "c", "d"]
SHAS = ["1" * 64, "2" * 64]

remote_item = st.fixed_dictionaries(
    {
        "key": st.sampled_from(KEYS),
        "owner": st.sampled_from(["o", "o", "other", None]),
        "sha": st.sampled_from(SHAS),
        "status": st.sampled_from(["completed", "completed", "failed", "pending", "processing"]),
        "title": st.sampled_from(["a", "b", "T"]),
        "old": st.booleans(),
    }
)


@st.composite
def scenarios(draw):
    wanted = draw(st.dictionaries(st.sampled_from(KEYS), st.tuples(st.sampled_from(SHAS), st.booleans())))
    items = draw(st.lists(remote_item, max_size=6))
    remote = []
    for n, item in enumerate(items):
        meta = {}
        if item["owner"]:
            meta = {
                STAMP_OWNER: item["owner"],
                STAMP_KEY: item["key"],
                STAMP_SHA256: item["sha"],
                STAMP_IDENTIFIER: "0",
            }
        created = "2030-03-17T15:00:00Z" if item["old"] else "2030-03-17T17:00:00Z"
        remote.append(
            RemoteImport(f"id{n}", item["status"], item["title"], Entity("company"), 1, meta, created, created)
        )
    locked = draw(st.lists(st.sampled_from(range(len(remote))), unique=True)) if remote else []
    entries = {}
    for n in locked:
        key = remote[n].key or KEYS[n % len(KEYS)]
        entries[key] = LockEntry(remote[n].id, key, Entity("company"), {}, False, "d.csv", SHAS[0], 1, 1, 1, 0)
    prune = draw(st.booleans())
    imports = {k: desired(k, sha=sha, protected=protected) for k, (sha, protected) in wanted.items()}
    return Manifest("websets.yaml", "o", Safety(prune=prune), imports), remote, Lock("o", "l", 1, entries)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_planner_invariants(scenario):
    manifest, remote, lock = scenario
    recorded = {e.id for e in lock.imports.values()}
    try:
        plan = build_plan(manifest, remote, lock, now=NOW)
    except Exception as exc:  # only the documented refusals are allowed
        assert "refusing to plan" in str(exc)
        foreign = any(r.id in recorded and r.owner != "o" for r in remote)
        assert foreign or (lock.imports and not any(r.owner == "o" for r in remote))
        return
    assert not any(r.id in recorded and r.owner != "o" for r in remote)
    managed = {r.id for r in remote if r.owner == "o" and (r.key or r.id in recorded)}
    assert plan.unmanaged == len(remote) - len(managed)
    keys = [c.key for c in plan.changes]
    assert len(keys) == len(set(keys))
    assert set(manifest.imports) <= set(keys)
    for change in plan.changes:
        if change.id is not None:
            assert change.id in managed  # nothing unmanaged is ever touched
        if change.action is Action.CREATE:
            assert change.id is None and change.before is None
        if change.action is Action.DELETE:
            assert manifest.safety.prune and change.key not in manifest.imports and change.after is None
        if change.action.destructive and change.protected:
            assert not plan.safe
    assert render_json(plan) == render_json(build_plan(manifest, remote, lock, now=NOW))  # deterministic
