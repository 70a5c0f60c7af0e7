"""Whether a saved plan still describes the world: the lockfile, the CSVs and the remote it was built on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reconciler.errors import StalePlan
from reconciler.lockfile import Lock
from reconciler.model import Manifest
from reconciler.plan.model import Basis, Plan
from reconciler.plan.planner import field_paths
from reconciler.remote.state import RemoteImport


def check_stale(
    saved: dict[str, Any], basis: Basis, lock: Lock | None, manifest: Manifest, remote: list[RemoteImport], fresh: Plan
) -> None:
    """Raise StalePlan saying everything that moved since the saved plan was made."""
    moved: list[str] = []
    if lock is not None and basis.lock_lineage is not None and lock.lineage != basis.lock_lineage:
        moved.append("the lockfile is of another lineage")
    serial_now = lock.serial if lock else None
    if serial_now != basis.lock_serial:
        moved.append(f"the lockfile moved (serial {basis.lock_serial} -> {serial_now})")
    for key, sha in sorted(basis.csv.items()):
        item = manifest.imports.get(key)
        if item is None:
            moved.append(f"{key} left the manifest")
        elif (item.sha256 or "") != sha:
            where = item.csv.display if item.csv is not None else f"{key}'s csv"
            moved.append(f"{where} changed on disk (sha256 {sha[:12] or 'none'} -> {(item.sha256 or 'none')[:12]})")
    for key in sorted(set(manifest.imports) - set(basis.csv)):
        moved.append(f"{key} was added to the manifest")
    now = {r.id: r.updated_at for r in remote if r.owner == manifest.owner or r.id in basis.remote}
    for import_id, updated in sorted(basis.remote.items()):
        if import_id not in now:
            moved.append(f"import {import_id} no longer exists")
        elif now[import_id] != updated:
            moved.append(f"import {import_id} changed remotely (updatedAt {updated} -> {now[import_id]})")
    for import_id in sorted(set(now) - set(basis.remote)):
        moved.append(f"a managed import {import_id} appeared remotely")
    # Also compare what each change saw, for a service that does not move updatedAt on every edit.
    fresh_before = {c.key: c.before for c in fresh.changes}
    for change in saved["plan"]["changes"]:
        before = change.get("before")
        if before and change["key"] in fresh_before and fresh_before[change["key"]] != before:
            note = f"import {before.get('id')} changed remotely"
            if not any(note in m for m in moved):
                moved.append(note)
    moved += _changes_moved(saved, fresh)
    if moved:
        raise StalePlan(
            "Saved plan is stale: " + "; ".join(moved) + ". Run `websets-reconciler plan --out` again and review it."
        )


def check_still_agrees(saved: dict[str, Any], fresh: Plan) -> None:
    """Raise StalePlan when the plan made after finishing an interrupted apply differs from the saved one."""
    moved = _changes_moved(saved, fresh)
    if moved:
        raise StalePlan(
            "Saved plan is stale: finishing an interrupted apply changed what it would do: "
            + "; ".join(moved)
            + ". Run `websets-reconciler plan --out` again and review it."
        )


def _changes_moved(saved: dict[str, Any], fresh: Plan) -> list[str]:
    """Each key whose change is not the saved one: another action, another import, other values."""
    moved: list[str] = []
    by_key = {c.key: c for c in fresh.changes}
    repeated = Counter(c["key"] for c in saved["plan"]["changes"])
    moved += [f"{key}: the plan holds more than one change for it" for key, n in sorted(repeated.items()) if n > 1]
    for change in saved["plan"]["changes"]:
        key, now = change["key"], by_key.get(change["key"])
        if now is None:
            continue
        if now.action.value != change["action"]:
            moved.append(f"{key}: planning again gives {now.action.value}, not {change['action']}")
        elif now.id != change["id"]:
            moved.append(
                f"{key}: the plan acts on import {change['id']}, but {now.id or 'none'} now stands for the key"
            )
        # What apply sends is the saved plan's: any value of the manifest or a CSV that moved since is named.
        after = change.get("after")
        if after and now.after and after != now.after:
            for path in field_paths(after, now.after):
                moved.append(f"{key}: {path} changed in the manifest or its CSV since the plan was made")
    planned = {(c["key"], c["action"]) for c in saved["plan"]["changes"] if c["action"] != "noop"}
    current = {(c.key, c.action.value) for c in fresh.actionable}
    if not moved and planned != current:
        moved.append("planning again gives other changes")
    saved_strays = {(s["key"], s["id"]) for s in saved["plan"].get("strays", [])}
    if not moved and saved_strays != {(s.key, s.id) for s in fresh.strays}:
        moved.append("planning again gives other stray imports to delete")
    return moved
