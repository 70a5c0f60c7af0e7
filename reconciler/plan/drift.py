"""`--refresh-only`: what changed remotely since the lockfile was written (dashboard edits, deletions), and
the lockfile that records it. Nothing remote is planned to change. Pure, like the planner.

A refresh change's sides: `before` is what the lockfile records, `after` what the remote holds now (None:
the import is gone).
"""

from __future__ import annotations

from typing import Any

from reconciler.lockfile import Lock, LockEntry
from reconciler.model import Entity, Manifest
from reconciler.plan.change import field_paths
from reconciler.plan.model import Action, Basis, Change, Origin, Plan, Reason, Selection
from reconciler.plan.planner import check_selection, refuse_another_account
from reconciler.remote.state import RemoteImport


def _recorded_side(entry: LockEntry) -> dict[str, Any]:
    return {
        "title": entry.title,
        "entity": entry.entity.to_api(),
        "metadata": dict(entry.metadata),
        "csv": {"sha256": entry.sha256, "identifier": entry.identifier, "records": entry.records},
    }


def _remote_side(r: RemoteImport, entry: LockEntry) -> dict[str, Any]:
    # A stamp edited away says nothing of the content, which cannot change in place: the record stands.
    return {
        "title": r.title,
        "entity": r.entity.to_api() if r.entity else entry.entity.to_api(),
        "metadata": r.user_metadata,
        "csv": {
            "sha256": r.sha256 if r.sha256 is not None else entry.sha256,
            "identifier": r.identifier if r.identifier is not None else entry.identifier,
            "records": int(r.count),
        },
    }


def build_refresh_plan(
    manifest: Manifest, remote: list[RemoteImport], lock: Lock | None, targets: Selection | None = None
) -> Plan:
    """A refresh change for each lockfile entry whose import changed or is gone; in sync ones are noops."""
    owner = manifest.owner
    entries = lock.imports if lock else {}
    by_id = {r.id: r for r in remote}
    ours = any(r.owner == owner for r in remote) or any(e.id in by_id for e in entries.values())
    refuse_another_account(entries, ours, owner)
    if targets is not None:
        check_selection(targets, {*entries, *manifest.imports})
    changes: list[Change] = []
    for key, entry in sorted(entries.items()):
        if targets is not None and not targets.selects(key):
            continue
        before, r = _recorded_side(entry), by_id.get(entry.id)
        if r is None or r.owner != owner:
            reason = Reason.REMOTE_DELETED if r is None else Reason.REMOTE_DISOWNED
            changes.append(Change(key, Action.REFRESH, reason, entry.id, before, None, (), Origin.REMOTE))
            continue
        after = _remote_side(r, entry)
        fields = tuple(field_paths(before, after))
        if fields:
            changes.append(
                Change(key, Action.REFRESH, Reason.REMOTE_EDITED, r.id, before, after, fields, Origin.REMOTE)
            )
        else:
            changes.append(Change(key, Action.NOOP, Reason.IN_SYNC, r.id, before, after))
    managed = sum(1 for r in remote if r.owner == owner)
    basis = Basis(
        lock_lineage=lock.lineage if lock else None,
        lock_serial=lock.serial if lock else None,
        remote={r.id: r.updated_at for r in remote if r.owner == owner},
        csv={key: d.sha256 or "" for key, d in manifest.imports.items()},
    )
    return Plan(owner, tuple(changes), managed, len(remote) - managed, basis=basis, refresh_only=True)


def refreshed_entries(imports: dict[str, LockEntry], changes: tuple[Change, ...]) -> dict[str, LockEntry]:
    """The lockfile's entries with each refresh change recorded: a gone import's entry dropped, an edited
    one's holding the remote's values (what the lockfile knows of the CSV file stays)."""
    result = dict(imports)
    for change in changes:
        entry = result.get(change.key)
        if change.action is not Action.REFRESH or entry is None or entry.id != change.id:
            continue
        after = change.after
        if after is None:
            del result[change.key]
            continue
        csv = after["csv"]
        result[change.key] = LockEntry(
            entry.id,
            after["title"],
            Entity.from_api(after["entity"]) or entry.entity,
            dict(after["metadata"]),
            entry.protected,
            entry.path,
            csv["sha256"],
            entry.size,
            csv["records"],
            entry.columns,
            csv["identifier"],
        )
    return result
