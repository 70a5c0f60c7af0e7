"""The planner: (desired, remote, lock) -> Plan. Pure: no I/O, no clock (`now` is an argument).

Ownership comes from the remote stamps alone: an import is managed when its owner stamp names our owner.
It then stands for the key its key stamp names, or, where that stamp was edited away, for the key the
lockfile records it under. A lockfile entry naming an import stamped with another owner, or with none,
is refused (LockfileError): the tool never changes an import that is not stamped as ours. Everything else
is counted and left alone. Each key's change is worked out in change.py.

An upload is known to have been accepted only for the import the lockfile records under its key (entries
are written after the upload): any other `pending` import may never receive its CSV, so it is replaced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from reconciler.errors import ConfigError, LockfileError, RemoteStateError
from reconciler.lockfile import LOCK_NAME, Lock, Operation
from reconciler.model import DesiredImport, Manifest
from reconciler.plan.blocks import (
    adoptions,
    apply_moves,
    as_move,
    check_replace_keys,
    forced_replace,
    forgets,
    shown,
)
from reconciler.plan.change import (
    Precomputed,
    change_for,
    desired_from_after,
    desired_snapshot,
    field_paths,
    remote_snapshot,
    stamps,
)
from reconciler.plan.model import Action, Basis, Change, Origin, Orphan, Plan, Reason, Selection, Stray
from reconciler.remote.state import UPLOAD_WINDOW, RemoteImport, parse_time

# How long after its create an import may still be another apply's work in progress: its upload window,
# then apply's default wait for processing (--timeout).
ANOTHER_APPLY_WINDOW = UPLOAD_WINDOW + 1800.0

__all__ = [
    "Precomputed",
    "another_apply",
    "build_plan",
    "desired_from_after",
    "desired_snapshot",
    "field_paths",
    "holds",
    "pick_claimant",
    "recovery_outlook",
    "remote_snapshot",
    "replace_blocked",
    "safety_problems",
    "split_others",
    "stamps",
]


def holds(r: RemoteImport, desired: DesiredImport) -> bool:
    """Whether `r` holds what no update can give it: the desired CSV (by its sha256 stamp), identifier column
    (by its stamp) and entity."""
    if desired.csv is None:
        return r.entity == desired.entity
    return r.sha256 == desired.csv.sha256 and r.identifier == desired.csv.identifier and r.entity == desired.entity


def pick_claimant(candidates: list[RemoteImport], lock_id: str | None, desired: DesiredImport | None) -> RemoteImport:
    """The import that stands for a key when several claim it. A completed one, if any: the lockfile's,
    else the newest holding what the manifest wants, else the newest. With none completed: the lockfile's,
    else the newest."""
    # An import in flight may never complete: standing for the key, it would have the completed ones
    # deleted (as duplicates, or by the replace that follows), and nothing usable would be left.
    completed = [r for r in candidates if r.status == "completed"]
    pool = completed or candidates
    for r in pool:
        if r.id == lock_id:
            return r
    if desired is not None and (matching := [r for r in completed if holds(r, desired)]):
        pool = matching
    return max(pool, key=lambda r: (parse_time(r.created_at) or 0.0, r.id))


def replace_blocked(new: RemoteImport, key: str, manifest: Manifest, *, force: bool) -> str | None:
    """Why an interrupted replace must not be finished by deleting the import it replaces (None: it may
    be): `new` no longer holds what the manifest wants for `key`, or that import is protected and the
    run has no --force."""
    desired = manifest.imports.get(key)
    if desired is None:
        return "the key left the manifest"
    if not holds(new, desired):
        return "it does not hold what the manifest now wants"
    if desired.protected and not force:
        return "the key is protected, and a replace needs --force"
    return None


def recovery_outlook(
    journal: tuple[Operation, ...], ours: dict[str, RemoteImport], manifest: Manifest
) -> tuple[set[str], set[str], list[str]]:
    """What the next apply's recovery (reconciler.apply.recover, without --force) does with the creates
    in flight, as far as the listing tells without waiting: the ids it deletes, the ids the journal names,
    and a line per operation. `ours` holds every import stamped with our owner, by id."""
    by_operation = {r.operation: r for r in ours.values() if r.operation}
    deleted: set[str] = set()
    named: set[str] = set()
    notes: list[str] = []
    for op in sorted(journal, key=lambda o: (o.key, o.operation)):
        new = by_operation.get(op.operation)
        if new is None:
            continue
        named.add(new.id)
        old = ours.get(op.replaces) if op.replaces else None
        made = f"{new.id}, made by {'a create that was given up on' if op.abandoned else 'an interrupted ' + op.action}"
        if not op.abandoned and old is not None and (why := replace_blocked(new, op.key, manifest, force=False)):
            deleted.add(new.id)
            notes.append(f"{op.key}: the next apply deletes {made}, and keeps {old.id}: {why}")
        elif op.abandoned or new.status in ("pending", "failed", "canceled"):
            deleted.add(new.id)
            notes.append(f"{op.key}: the next apply deletes {made} ({new.status})")
        elif new.status != "completed":
            then = f", and once it completes deletes {old.id}, which it replaces" if old is not None else ""
            notes.append(f"{op.key}: the next apply waits for {made}{then}")
        elif old is not None:
            deleted.add(old.id)
            notes.append(f"{op.key}: the next apply keeps {made}, and deletes {old.id}, which it replaces")
        else:
            notes.append(f"{op.key}: the next apply keeps {made}")
    return deleted, named, notes


def another_apply(r: RemoteImport, known: frozenset[str], now: float) -> bool:
    """Whether `r` may be the create of another apply still running: made lately (within what one create
    may take: its upload window and the default wait for processing), stamped with an operation that
    this checkout's journal does not know (`known`). Such an import is never deleted."""
    if r.operation is None or r.operation in known:
        return False
    created = parse_time(r.created_at)
    return created is not None and now - created < ANOTHER_APPLY_WINDOW


def split_others(
    candidates: list[RemoteImport], chosen: RemoteImport, now: float, known: frozenset[str] = frozenset()
) -> tuple[list[tuple[RemoteImport, str]], list[tuple[RemoteImport, str]]]:
    """The other claimants of a key: those apply deletes (settled duplicates, and imports still pending
    after their upload window), with why; and those it leaves alone, with why (in flight, or made lately
    by another apply: see `another_apply`)."""
    doomed: list[tuple[RemoteImport, str]] = []
    left: list[tuple[RemoteImport, str]] = []
    for r in candidates:
        if r is chosen:
            continue
        if r.upload_expired(now):
            doomed.append((r, "an import whose upload never happened"))
        elif r.status in ("pending", "processing"):
            left.append((r, "still in flight"))
        elif another_apply(r, known, now):
            left.append((r, f"made {_ago(now, r)} by another apply, which seems to be running"))
        else:
            doomed.append((r, f"a duplicate of {chosen.id}"))
    return doomed, left


def _ago(now: float, r: RemoteImport) -> str:
    minutes = max(0, int((now - (parse_time(r.created_at) or now)) // 60))
    return "under a minute ago" if minutes == 0 else f"{minutes} min ago"


def build_plan(
    manifest: Manifest,
    remote: list[RemoteImport],
    lock: Lock | None,
    *,
    now: float,
    targets: Selection | frozenset[str] | None = None,
    precomputed: Precomputed | None = None,
    replace_keys: frozenset[str] = frozenset(),
    known_operations: frozenset[str] = frozenset(),
) -> Plan:
    """Diff the desired state against the remote, with the lockfile as the common base. `precomputed`
    holds changes worked out ahead (the plan is the same with or without it); `targets` limits the plan
    to some keys; `replace_keys` are replaced even when nothing changed; `known_operations` are creates
    this run knows of beyond the lockfile's journal (those its recovery has just finished)."""
    selection = Selection.of(targets)
    check_replace_keys(manifest, replace_keys, selection)
    owner = manifest.owner
    entries = lock.imports if lock else {}
    recorded = {entry.id: key for key, entry in entries.items()}
    claims: dict[str, list[RemoteImport]] = defaultdict(list)
    unmanaged = 0
    foreign: list[str] = []
    for r in remote:
        if r.owner != owner:
            unmanaged += 1
            if r.id in recorded and recorded[r.id] in manifest.removed and not r.owner:
                continue  # a forget whose record was lost: the entry is dropped (see the warning below)
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
    refuse_another_account(entries, bool(claims), owner)
    if selection is not None:
        check_selection(selection, {*manifest.imports, *claims, *entries, *manifest.moved, *manifest.removed})

    serving, named, recovery_notes = claims, set(), []
    # The creates this checkout knows of: those of its journal, and the imports its lockfile records.
    known = known_operations | {op.operation for op in lock.journal} if lock is not None else known_operations
    known |= {r.operation for r in remote if r.id in recorded and r.operation}
    if lock is not None and lock.journal:
        # Planned as the next apply plans once it has finished the journal: what its recovery deletes is
        # gone, and what the journal names is described by what recovery does with it.
        ours = {r.id: r for r in remote if r.owner == owner}
        gone, named, recovery_notes = recovery_outlook(lock.journal, ours, manifest)
        serving = {k: kept for k, rs in claims.items() if (kept := [r for r in rs if r.id not in gone])}

    warnings: list[str] = []
    current: dict[str, RemoteImport] = {}
    strays: list[Stray] = []
    for key, candidates in sorted(serving.items()):
        if len(candidates) == 1:  # the usual case: the one claimant stands for the key, and none is left over
            current[key] = chosen = candidates[0]
        else:
            lock_id = entries[key].id if key in entries else None
            current[key] = chosen = pick_claimant(candidates, lock_id, manifest.imports.get(key))
            doomed, left = split_others(candidates, chosen, now, known)
            strays += [Stray(key, r.id, why) for r, why in doomed]
            left = [(r, why) for r, why in left if r.id not in named]
            deleted = f"; apply deletes {', '.join(sorted(r.id for r, _ in doomed))}" if doomed else ""
            kept = "".join(f"; not touching {r.id}, {why}" for r, why in sorted(left, key=lambda x: x[0].id))
            warnings.append(
                f"{key}: {len(candidates)} remote imports are stamped with this key; using {chosen.id}{deleted}{kept}"
            )
        in_flight = chosen.status in ("pending", "processing") and not chosen.upload_expired(now)
        if in_flight and key in manifest.imports:
            warnings.append(f"{key}: import {chosen.id} is still {chosen.status}")

    moved_from = apply_moves(manifest, current, lock.journal if lock else ())
    managed = len(current)
    changes: list[Change] = forgets(manifest, current, entries)
    by_id = {r.id: r for r in remote} if manifest.adopt else {}
    adopting = adoptions(manifest, current, by_id, entries, replace_keys)
    ahead = precomputed.changes(manifest, lock) if precomputed is not None else {}
    for key, d in sorted(manifest.imports.items()):
        if key in adopting:
            changes.append(adopting[key])
            continue
        r, old = current.get(key), moved_from.get(key)
        found = ahead.get(key)  # worked out for this very import, or of no use
        if found is not None and found[0] is r and old is None:
            change = found[1]
        else:
            change = change_for(owner, d, r, entries.get(old or key), now)
        if old is not None:
            change = as_move(change, old)
        changes.append(forced_replace(change) if key in replace_keys else change)
    orphans: list[Orphan] = []
    for key in sorted(current.keys() - manifest.imports.keys()):
        r, base = current[key], entries.get(key)
        if manifest.safety.prune and another_apply(r, known, now) and base is None:
            warnings.append(
                f"{key}: not deleting import {r.id}: it was made {_ago(now, r)} by another apply, which seems to "
                "be running (its key is not in this manifest: is this checkout behind?)"
            )
        elif manifest.safety.prune:
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
        warnings += recovery_notes
    settled = {*manifest.moved, *manifest.removed}  # their entries go with the move or the forget
    for key in sorted(entries.keys() - current.keys() - manifest.imports.keys() - settled):
        warnings.append(
            f"{key}: the lockfile's import {entries[key].id} no longer exists; dropping it from the lockfile"
        )
    forgotten = {c.key for c in changes if c.action is Action.FORGET}
    for key in sorted(entries.keys() & manifest.removed.keys() - current.keys() - forgotten):
        warnings.append(
            f"{key}: the lockfile's import {entries[key].id} no longer carries this owner's stamps (a forget "
            "whose record was lost); dropping it from the lockfile"
        )

    # A replaced import's successor is what gets recorded; a moved one is recorded by its move.
    replaced = {c.key for c in changes if c.action is Action.REPLACE or c.moved_from}
    adopted = tuple(
        sorted(
            k
            for k, r in current.items()
            if (k not in entries or entries[k].id != r.id)
            and k not in replaced
            and (selection is None or selection.selects(k))
        )
    )
    if selection is not None:
        changes = [c for c in changes if selection.selects(c.key, c.moved_from)]
        orphans = [o for o in orphans if selection.selects(o.key)]
        strays = [s for s in strays if selection.selects(s.key)]
    basis = Basis(
        lock_lineage=lock.lineage if lock else None,
        lock_serial=lock.serial if lock else None,
        remote={r.id: r.updated_at for rs in claims.values() for r in rs}
        | {c.id: by_id[c.id].updated_at for c in adopting.values() if c.id},
        csv={key: d.sha256 or "" for key, d in manifest.imports.items()},
    )
    plan = Plan(
        owner,
        tuple(changes),
        managed + len(adopting),
        unmanaged - len(adopting),
        tuple(orphans),
        tuple(warnings),
        adopted=adopted,
        strays=tuple(strays),
        basis=basis,
    )
    return replace(plan, unsafe=tuple(safety_problems(plan, manifest)))


def refuse_another_account(entries: Mapping[str, object], any_ours: bool, owner: str) -> None:
    """A listing that holds none of the lockfile's imports and none stamped with the owner is another
    team's account (a wrong key): planning against it would recreate, or forget, everything."""
    if entries and not any_ours:
        raise RemoteStateError(
            f"the listing holds none of the {len(entries)} imports the lockfile records and none stamped "
            f"with owner {owner!r}; refusing to plan (is EXA_API_KEY the key of the right team?)"
        )


def check_selection(selection: Selection, keys: set[str]) -> None:
    """A --target or --exclude that matches no key is a mistake (a typo would otherwise select nothing)."""
    unknown = set(selection.unmatched(keys))
    for option, patterns in (("--target", selection.targets), ("--exclude", selection.excludes)):
        if missing := sorted(p for p in patterns if p in unknown):
            shown_all = ", ".join(map(shown, missing))
            raise ConfigError(f"{option} {shown_all}: no such key in the manifest, the lockfile or the remote")


def safety_problems(plan: Plan, manifest: Manifest) -> list[str]:
    """Why the plan is unsafe (empty when it is safe): thresholds above a minimum size, and protection."""
    safety = manifest.safety
    problems: list[str] = []
    for change in plan.changes:
        if change.protected and change.action.guarded:
            verb = {Action.REPLACE: "replaced", Action.DELETE: "deleted", Action.FORGET: "forgotten"}[change.action]
            problems.append(f"{change.key} is protected and would be {verb}")
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
