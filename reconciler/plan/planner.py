"""The planner: (desired, remote, lock) -> Plan. Pure: no I/O, no clock (`now` is an argument).

Ownership comes from the remote stamps alone: an import is managed when its owner stamp names our owner.
It then stands for the key its key stamp names, or, where that stamp was edited away, for the key the
lockfile records it under. A lockfile entry naming an import stamped with another owner, or with none,
is refused (LockfileError): the tool never changes an import that is not stamped as ours. Everything else
is counted and left alone.

An upload is known to have been accepted only for the import the lockfile records under its key (entries
are written after the upload): any other `pending` import may never receive its CSV, so it is replaced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from deepdiff import DeepDiff

from reconciler.errors import ConfigError, LockfileError, RemoteStateError
from reconciler.lockfile import LOCK_NAME, Lock, LockEntry
from reconciler.model import (
    STAMP_IDENTIFIER,
    STAMP_KEY,
    STAMP_OWNER,
    STAMP_SHA256,
    DesiredImport,
    Entity,
    Manifest,
)
from reconciler.plan.model import Action, Basis, Change, Origin, Orphan, Plan, Reason, Stray, get_path
from reconciler.remote.state import RemoteImport, parse_time


def stamps(owner: str, desired: DesiredImport) -> dict[str, str]:
    """The ownership stamps an import of `desired` carries (the operation stamp is added by apply)."""
    return {
        STAMP_OWNER: owner,
        STAMP_KEY: desired.key,
        STAMP_SHA256: desired.csv.sha256,
        STAMP_IDENTIFIER: str(desired.csv.identifier),
    }


def desired_snapshot(d: DesiredImport) -> dict[str, Any]:
    csv = d.csv
    return {
        "title": d.title,
        "entity": d.entity.to_api(),
        "metadata": dict(d.metadata),
        "protected": d.protected,
        "csv": {
            "path": csv.path,
            "sha256": csv.sha256,
            "size": csv.size,
            "records": csv.records,
            "columns": csv.columns,
            "identifier": csv.identifier,
            "identifier_name": csv.identifier_name,
        },
    }


def desired_from_after(desired: DesiredImport, after: dict[str, Any] | None) -> DesiredImport:
    """`desired` carrying the values of a change's `after` side: what apply sends is what the plan showed,
    even when the plan was saved and the manifest has moved since (where the file is stays the manifest's)."""
    if after is None:
        return desired
    csv = after["csv"]
    return replace(
        desired,
        title=after["title"],
        entity=Entity.from_api(after["entity"]) or desired.entity,
        metadata=dict(after["metadata"]),
        protected=after["protected"],
        csv=replace(
            desired.csv,
            sha256=csv["sha256"],
            size=csv["size"],
            records=csv["records"],
            columns=csv["columns"],
            identifier=csv["identifier"],
            identifier_name=csv["identifier_name"],
        ),
    )


def remote_snapshot(r: RemoteImport, base: LockEntry | None) -> dict[str, Any]:
    csv: dict[str, Any] = {"sha256": r.sha256, "records": int(r.count), "identifier": r.identifier}
    if base is not None and base.sha256 == r.sha256:
        csv.update(path=base.path, size=base.size, columns=base.columns)
    snapshot = {
        "id": r.id,
        "status": r.status,
        "title": r.title,
        "entity": r.entity.to_api() if r.entity else None,
        "metadata": r.user_metadata,
        "csv": csv,
    }
    if r.failed_reason:
        snapshot["failed"] = {"reason": r.failed_reason, "message": r.failed_message}
    return snapshot


def field_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The dotted paths at which two snapshots differ, sorted."""
    if before == after:  # the common case, and DeepDiff is costly per call
        return []
    diff = DeepDiff(before, after, view="tree")
    paths = {".".join(str(p) for p in level.path(output_format="list")) for levels in diff.values() for level in levels}
    return sorted(paths)


def _origin(
    paths: Iterable[str], desired: dict[str, Any], remote: dict[str, Any], base: dict[str, Any] | None
) -> Origin:
    if base is None:
        return Origin.UNKNOWN
    origins = set()
    for path in paths:
        d, r, b = (get_path(x, path) for x in (desired, remote, base))
        manifest_moved, remote_moved = d != b, r != b
        if manifest_moved and remote_moved:
            origins.add(Origin.BOTH)
        elif remote_moved:
            origins.add(Origin.REMOTE)
        else:
            origins.add(Origin.MANIFEST)
    if Origin.BOTH in origins:
        return Origin.BOTH
    return Origin.REMOTE if origins == {Origin.REMOTE} else Origin.MANIFEST


def _comparable(title: str, entity: Any, metadata: dict[str, str], sha: str | None, ident: int | None) -> dict:
    return {"title": title, "entity": entity, "metadata": metadata, "csv": {"sha256": sha, "identifier": ident}}


def pick_claimant(candidates: list[RemoteImport], lock_id: str | None, desired: DesiredImport | None) -> RemoteImport:
    """The import that stands for a key when several claim it: the lockfile's, else a completed
    one holding the desired CSV, else the newest."""
    for r in candidates:
        if r.id == lock_id:
            return r
    if desired is not None:
        for r in candidates:
            if r.status == "completed" and r.sha256 == desired.csv.sha256:
                return r
    return max(candidates, key=lambda r: (parse_time(r.created_at) or 0.0, r.id))


def split_others(
    candidates: list[RemoteImport], chosen: RemoteImport, now: float
) -> tuple[list[tuple[RemoteImport, str]], list[RemoteImport]]:
    """The other claimants of a key: those apply deletes (settled duplicates, and imports still pending
    after their upload window), with why; and those it leaves alone (in flight: perhaps another apply's)."""
    doomed: list[tuple[RemoteImport, str]] = []
    left: list[RemoteImport] = []
    for r in candidates:
        if r is chosen:
            continue
        if r.upload_expired(now):
            doomed.append((r, "an import whose upload never happened"))
        elif r.status in ("pending", "processing"):
            left.append(r)
        else:
            doomed.append((r, f"a duplicate of {chosen.id}"))
    return doomed, left


def _recorded(r: RemoteImport, base: LockEntry | None) -> tuple[str | None, int | None]:
    """The remote's CSV sha256 and identifier: from its stamps, or, where they were edited away,
    from the lockfile's record of that same import."""
    same = base is not None and base.id == r.id
    sha = r.sha256 if r.sha256 is not None else (base.sha256 if same and base else None)
    ident = r.identifier if r.identifier is not None else (base.identifier if same and base else None)
    return sha, ident


def _replace_reason(
    r: RemoteImport, sha: str | None, ident: int | None, d: DesiredImport, uploaded: bool, now: float
) -> Reason | None:
    if r.status == "failed":
        return Reason.REMOTE_FAILED
    if r.status == "canceled":
        return Reason.REMOTE_CANCELED
    if r.upload_expired(now):
        return Reason.UPLOAD_EXPIRED
    if r.status == "pending" and not uploaded:
        return Reason.UPLOAD_MISSING
    if sha != d.csv.sha256:
        return Reason.CSV_CHANGED
    if r.entity != d.entity:
        return Reason.ENTITY_CHANGED
    if ident != d.csv.identifier:
        return Reason.IDENTIFIER_CHANGED
    return None


_REMOTE_STATUS_REASONS = (Reason.REMOTE_FAILED, Reason.REMOTE_CANCELED, Reason.UPLOAD_EXPIRED, Reason.UPLOAD_MISSING)


def _change_for(owner: str, d: DesiredImport, r: RemoteImport | None, base: LockEntry | None, now: float) -> Change:
    after = desired_snapshot(d)
    if r is None:
        reason = Reason.REMOTE_MISSING if base is not None else Reason.NEW_KEY
        origin = Origin.REMOTE if base is not None else Origin.MANIFEST
        return Change(d.key, Action.CREATE, reason, None, None, after, (), origin, d.protected)
    before = remote_snapshot(r, base)
    want = _comparable(d.title, d.entity.to_api(), dict(d.metadata), d.csv.sha256, d.csv.identifier)
    sha, ident = _recorded(r, base)
    have = _comparable(r.title, before["entity"], r.user_metadata, sha, ident)
    was = None
    if base is not None:
        was = _comparable(base.title, base.entity.to_api(), dict(base.metadata), base.sha256, base.identifier)
    fields = field_paths(have, want)
    reason = _replace_reason(r, sha, ident, d, base is not None and base.id == r.id, now)
    if reason in _REMOTE_STATUS_REASONS:
        return Change(
            d.key, Action.REPLACE, reason, r.id, before, after, ("status", *fields), Origin.REMOTE, d.protected
        )
    if reason is not None:
        origin = _origin(fields, want, have, was)
        return Change(d.key, Action.REPLACE, reason, r.id, before, after, tuple(fields), origin, d.protected)
    stamps_ok = all(r.metadata.get(k) == v for k, v in stamps(owner, d).items())
    if fields or not stamps_ok:
        shown = tuple(fields) if fields else ("metadata.stamps",)
        origin = _origin(fields, want, have, was) if fields else Origin.REMOTE
        return Change(d.key, Action.UPDATE, Reason.ATTRIBUTES_CHANGED, r.id, before, after, shown, origin, d.protected)
    return Change(d.key, Action.NOOP, Reason.IN_SYNC, r.id, before, after, (), None, d.protected)


def build_plan(
    manifest: Manifest,
    remote: list[RemoteImport],
    lock: Lock | None,
    *,
    now: float,
    targets: frozenset[str] | None = None,
) -> Plan:
    """Diff the desired state against the remote, with the lockfile as the common base."""
    owner = manifest.owner
    entries = lock.imports if lock else {}
    recorded = {entry.id: key for key, entry in entries.items()}
    claims: dict[str, list[RemoteImport]] = defaultdict(list)
    unmanaged = 0
    foreign: list[str] = []
    for r in remote:
        if r.owner != owner:
            unmanaged += 1
            if r.id in recorded:
                found = f"is stamped with owner {r.owner!r}" if r.owner else "carries no owner stamp"
                foreign.append(f"{recorded[r.id]} records import {r.id}, which {found}")
        elif r.key:
            claims[r.key].append(r)
        elif r.id in recorded:
            claims[recorded[r.id]].append(r)
        else:
            unmanaged += 1
    if foreign:
        raise LockfileError(
            f"{LOCK_NAME}: {'; '.join(sorted(foreign))}; refusing to plan: the tool never changes an import that "
            f"is not stamped with owner {owner!r}. Remove the entry from {LOCK_NAME} if the import is not yours"
        )
    if entries and not claims:
        raise RemoteStateError(
            f"the listing holds none of the {len(entries)} imports the lockfile records and none stamped "
            f"with owner {owner!r}; refusing to plan (is EXA_API_KEY the key of the right team?)"
        )
    known = set(manifest.imports) | set(claims) | set(entries)
    if targets is not None and (unknown := sorted(targets - known)):
        raise ConfigError(f"--target {', '.join(unknown)}: no such key in the manifest, the lockfile or the remote")

    warnings: list[str] = []
    current: dict[str, RemoteImport] = {}
    strays: list[Stray] = []
    for key, candidates in sorted(claims.items()):
        lock_id = entries[key].id if key in entries else None
        chosen = pick_claimant(candidates, lock_id, manifest.imports.get(key))
        current[key] = chosen
        doomed, left = split_others(candidates, chosen, now)
        strays += [Stray(key, r.id, why) for r, why in doomed]
        if doomed or left:
            deleted = f"; apply deletes {', '.join(sorted(r.id for r, _ in doomed))}" if doomed else ""
            kept = f"; not touching {', '.join(sorted(r.id for r in left))}, still in flight" if left else ""
            warnings.append(
                f"{key}: {len(candidates)} remote imports are stamped with this key; using {chosen.id}{deleted}{kept}"
            )
        in_flight = chosen.status in ("pending", "processing") and not chosen.upload_expired(now)
        if in_flight and key in manifest.imports:
            warnings.append(f"{key}: import {chosen.id} is still {chosen.status}")

    changes: list[Change] = []
    for key, d in sorted(manifest.imports.items()):
        changes.append(_change_for(owner, d, current.get(key), entries.get(key), now))
    orphans: list[Orphan] = []
    for key, r in sorted(current.items()):
        if key in manifest.imports:
            continue
        base = entries.get(key)
        if manifest.safety.prune:
            before = remote_snapshot(r, base)
            protected = bool(base and base.protected)
            changes.append(
                Change(key, Action.DELETE, Reason.KEY_REMOVED, r.id, before, None, (), Origin.MANIFEST, protected)
            )
        else:
            orphans.append(Orphan(key, r.id, r.title))
    if lock is not None and lock.journal:
        warnings.append(
            f"an interrupted apply left {len(lock.journal)} create(s) in flight "
            f"({', '.join(sorted({op.key for op in lock.journal}))}); the next apply finishes or cleans them up"
        )
    for key in sorted(set(entries) - set(current) - set(manifest.imports)):
        warnings.append(
            f"{key}: the lockfile's import {entries[key].id} no longer exists; dropping it from the lockfile"
        )

    if targets is not None:
        changes = [c for c in changes if c.key in targets]
        orphans = [o for o in orphans if o.key in targets]
        strays = [s for s in strays if s.key in targets]
    replaced = {c.key for c in changes if c.action is Action.REPLACE}  # their new import is what gets recorded
    adopted = tuple(
        sorted(k for k, r in current.items() if (k not in entries or entries[k].id != r.id) and k not in replaced)
    )
    basis = Basis(
        lock_lineage=lock.lineage if lock else None,
        lock_serial=lock.serial if lock else None,
        remote={r.id: r.updated_at for rs in claims.values() for r in rs},
        csv={key: d.csv.sha256 for key, d in manifest.imports.items()},
    )
    plan = Plan(
        owner,
        tuple(changes),
        len(current),
        unmanaged,
        tuple(orphans),
        tuple(warnings),
        adopted=adopted,
        strays=tuple(strays),
        basis=basis,
    )
    return replace(plan, unsafe=tuple(safety_problems(plan, manifest)))


def safety_problems(plan: Plan, manifest: Manifest) -> list[str]:
    """Why the plan is unsafe (empty when it is safe): thresholds above a minimum size, and protection."""
    safety = manifest.safety
    problems: list[str] = []
    for change in plan.changes:
        if change.protected and change.action.destructive:
            problems.append(f"{change.key} is protected and would be {change.action.value}d")
    managed = plan.managed
    if managed >= max(safety.min_managed_for_percent, 1):
        for action, limit, name in (
            (Action.DELETE, safety.max_delete_percent, "max_delete_percent"),
            (Action.REPLACE, safety.max_replace_percent, "max_replace_percent"),
        ):
            count = plan.count(action)
            share = 100.0 * count / managed
            if share > limit:
                problems.append(
                    f"{action.value}s: {count} of {managed} managed imports ({share:.0f}%) is above {name} {limit:g}%"
                )
    return problems
