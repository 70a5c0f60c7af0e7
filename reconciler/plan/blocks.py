"""The manifest's brownfield blocks as planner rules: `adopt` takes over an existing import, `moved` renames
a key, `removed` stops managing one; and `--replace KEY`. Each block is a no-op once applied, so it may stay
in the manifest. Pure, like the planner: every refusal is a ConfigError naming the manifest's line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.errors import ConfigError
from reconciler.lockfile import LockEntry, Operation
from reconciler.model import Manifest
from reconciler.plan.change import desired_snapshot, field_paths, remote_snapshot
from reconciler.plan.model import Action, Change, Origin, Reason, Selection
from reconciler.remote.state import RemoteImport


def shown(value: str) -> str:
    """A value the user gave, as it can be shown in a one-line message."""
    return value if value.isprintable() else repr(value)


def check_replace_keys(manifest: Manifest, keys: frozenset[str], selection: Selection | None = None) -> None:
    """Refuse a `--replace KEY` that names no key of the manifest, one with nothing to replace it with, or
    one that --target/--exclude leave out of the plan (it would be dropped without a word)."""
    for key in sorted(keys):
        desired = manifest.imports.get(key)
        if desired is None:
            raise ConfigError(f"--replace {shown(key)}: no such key in the manifest")
        if desired.csv is None:
            raise ConfigError(
                f"--replace {key}: the key has no csv (its content is unmanaged): there is nothing to replace it with"
            )
        if selection is not None and not selection.selects(key):
            raise ConfigError(f"--replace {key}: --target/--exclude leave this key out of the plan")


def apply_moves(
    manifest: Manifest, current: dict[str, RemoteImport], journal: tuple[Operation, ...] = ()
) -> dict[str, str]:
    """Stand each moved key's import for its new key in `current`; return new key -> old key. An old key
    whose import a replace in flight under the new key supersedes is moved already: the next apply's
    recovery deletes that import once its successor completes."""
    successors = {(op.key, op.replaces) for op in journal if op.replaces and not op.abandoned}
    moved_from: dict[str, str] = {}
    for old, move in sorted(manifest.moved.items()):
        r = current.get(old)
        if r is None:  # applied already, or nothing was ever managed under `old`
            continue
        if move.new in current and (move.new, r.id) in successors:
            del current[old]
            continue
        where = f"{manifest.path}:{move.line}: moved {old} -> {move.new}"
        if move.new in moved_from:
            first = moved_from[move.new]
            raise ConfigError(
                f"{where}: {first!r} ({current[move.new].id}) and {old!r} ({r.id}) both have an import and both "
                f"move to {move.new!r}; keep one: list the other under removed"
            )
        if move.new in current:
            raise ConfigError(
                f"{where}: both keys have an import ({r.id} and {current[move.new].id}); the move would leave two "
                f"imports for one key: list {old!r} under removed, or delete one of them"
            )
        current[move.new] = current.pop(old)
        moved_from[move.new] = old
    return moved_from


def as_move(change: Change, old: str) -> Change:
    """The change of a key whose import was managed as `old`: a move where the import can stay, else the
    replace (or whatever) it was, noting the key it moves from."""
    if change.action in (Action.NOOP, Action.UPDATE):
        fields = ("key", *(f for f in change.changed_fields if f != "metadata.stamps"))
        return replace(
            change,
            action=Action.MOVE,
            reason=Reason.KEY_MOVED,
            changed_fields=fields,
            origin=Origin.MANIFEST,
            moved_from=old,
        )
    return replace(change, moved_from=old)


def forced_replace(change: Change) -> Change:
    """`--replace KEY`: the key's import is replaced even when nothing changed (a create stays a create)."""
    if change.action in (Action.NOOP, Action.UPDATE, Action.MOVE):
        return replace(change, action=Action.REPLACE, reason=Reason.REPLACE_REQUESTED, origin=Origin.MANIFEST)
    return change


def _comparable(side: dict) -> dict:
    return {"title": side["title"], "metadata": side["metadata"]}


def adoptions(
    manifest: Manifest,
    current: Mapping[str, RemoteImport],
    by_id: Mapping[str, RemoteImport],
    entries: Mapping[str, LockEntry],
    replace_keys: frozenset[str],
) -> dict[str, Change]:
    """The change of each key the adopt block takes over, by key; none for an entry already applied.

    Only what the API shows can be checked: the import exists, is completed, carries no owner's stamps, and
    holds the manifest's entity and (where the manifest names a CSV) as many records as the CSV."""
    owner = manifest.owner
    changes: dict[str, Change] = {}
    for key, adoption in sorted(manifest.adopt.items()):
        desired = manifest.imports.get(key)
        if desired is None:  # the loader refuses it; a manifest built in code may not
            continue
        where = f"{manifest.path}:{adoption.line}: adopt {key}"
        held, r = current.get(key), by_id.get(adoption.id)
        if held is not None:
            # Adopted already when the adopt id is ours: the import standing for the key, or one that a
            # replace of the key is about to delete.
            if held.id != adoption.id and r is not None and r.owner != owner:
                raise ConfigError(
                    f"{where}: the key is already managed as import {held.id}, and {adoption.id} is another "
                    "import; remove the adopt entry (or adopt it under another key)"
                )
            continue  # adopted already (the id may since have been replaced)
        if r is None:
            entry = entries.get(key)
            if entry is not None and entry.id == adoption.id:
                continue  # adopted, then deleted outside the tool: the plan makes the key anew
            raise ConfigError(f"{where}: no import {adoption.id} in the remote; check the id")
        if r.owner == owner:
            raise ConfigError(
                f"{where}: import {adoption.id} is already managed as {r.key!r}; to rename a key, use a moved block"
            )
        if r.owner:
            raise ConfigError(
                f"{where}: import {adoption.id} is stamped with owner {r.owner!r}; the tool never takes over "
                "another owner's import"
            )
        if r.status != "completed":
            raise ConfigError(f"{where}: import {adoption.id} is {r.status}; only a completed import can be adopted")
        mismatches = []
        if r.entity != desired.entity:
            mismatches.append(f"entity: remote {r.entity or '(none)'}, manifest {desired.entity}")
        if desired.csv is not None and int(r.count) != desired.csv.records:
            mismatches.append(f"records: remote {int(r.count):,}, {desired.csv.display} {desired.csv.records:,}")
        forced = key in replace_keys
        if mismatches and not forced:
            fix = (
                f"fix the manifest, or pass --replace {key} to adopt it and replace it with the manifest's CSV"
                if desired.csv is not None
                else "fix the manifest (without csv the import cannot be replaced)"
            )
            raise ConfigError(
                f"{where}: import {adoption.id} does not match the manifest: {'; '.join(mismatches)}; {fix}"
            )
        before, after = remote_snapshot(r, None), desired_snapshot(desired)
        if forced:  # adopted, then replaced: every field the two sides share may differ
            shared = before.keys() & after.keys()
            action, reason = Action.REPLACE, Reason.REPLACE_REQUESTED
            fields = tuple(field_paths({k: before[k] for k in shared}, {k: after[k] for k in shared}))
        else:  # adopted in place: only what a PATCH sets
            action, reason = Action.ADOPT, Reason.ADOPT_REQUESTED
            fields = (*field_paths(_comparable(before), _comparable(after)), "metadata.stamps")
        changes[key] = Change(
            key, action, reason, r.id, before, after, fields, Origin.MANIFEST, desired.protected, adopting=forced
        )
    return changes


def forgets(manifest: Manifest, current: dict[str, RemoteImport], entries: Mapping[str, LockEntry]) -> list[Change]:
    """A forget for each key of the removed block that an import still stands for, taken out of `current`
    (it is neither deleted nor an orphan)."""
    changes = []
    for key in sorted(manifest.removed):
        r = current.pop(key, None)
        if r is None:  # forgotten already
            continue
        base = entries.get(key)
        changes.append(
            Change(
                key,
                Action.FORGET,
                Reason.KEY_FORGOTTEN,
                r.id,
                remote_snapshot(r, base),
                None,
                ("metadata.stamps",),
                Origin.MANIFEST,
                bool(base and base.protected),
            )
        )
    return changes
