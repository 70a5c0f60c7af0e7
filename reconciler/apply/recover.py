"""Finishing what an interrupted apply left behind.

Run under the state lock, so no other apply of this checkout is running: the journal's operations
are ours and their uploader is gone. The lock is a file, though, so an apply on another machine is not
excluded by it (CI serialises those with one concurrency group); imports its journal does not name are
therefore left to the plan, which shows what apply will delete (`Plan.strays`).

1. Before planning, each journal operation is looked up by its stamp: completed -> reported (and the
   import it replaces, if any and if stamped as ours, deleted); processing -> waited for (all of them
   at once, by one poller reading the listing), then the same;
   pending, failed or canceled -> deleted; an operation the run gave up on (abandoned) -> deleted,
   whatever its status; not found -> it was never made. Then it leaves the journal.
   A replace is finished only as the current plan would make it: when its new import holds what the
   manifest now wants for the key, and the key is not protected (or this run has --force). Otherwise
   its new import is deleted at once, whatever its status, and the import it replaces stays, recorded
   in the lockfile (`planner.replace_blocked`; the plan reads the journal the same way,
   `planner.recovery_outlook`).
2. After the plan is shown and confirmed, its strays (settled duplicates, and imports of ours still
   pending after their upload window, of the targeted keys) are deleted: exactly what it said.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.apply.book import LockBook
from reconciler.apply.executor import Progress
from reconciler.apply.watch import PollPolicy, StillProcessing, Watcher
from reconciler.errors import ApiError
from reconciler.lockfile import LockEntry, Operation
from reconciler.model import Manifest
from reconciler.plan.model import Plan
from reconciler.plan.planner import replace_blocked
from reconciler.remote.client import ApiClient
from reconciler.remote.state import RemoteImport


def _delete(client: ApiClient, import_id: str, gone: set[str]) -> None:
    if import_id in gone:
        return
    try:
        client.delete(import_id)
    except ApiError as exc:
        if exc.status != 404:
            raise
    gone.add(import_id)


def _restore(book: LockBook, manifest: Manifest, key: str, old: RemoteImport, new_id: str) -> None:
    """Point the lockfile's entry for `key` back at `old` where the killed run had moved it to `new_id`
    (it records the new import just before it deletes the old one)."""
    entry = book.state.imports.get(key)
    if entry is None or entry.id != new_id:
        return
    desired = manifest.imports.get(key)
    csv = desired.csv if desired is not None else None
    # Where `old` holds this very file (by its stamps), the entry can describe it.
    if desired is not None and csv is not None and old.sha256 == csv.sha256 and old.identifier == csv.identifier:
        entity = old.entity or desired.entity
        book.record(
            key,
            LockEntry(
                old.id,
                old.title,
                entity,
                dict(old.user_metadata),
                desired.protected,
                csv.path,
                csv.sha256,
                csv.size,
                csv.records,
                csv.columns,
                csv.identifier,
            ),
        )
    else:
        book.forget(key)  # what `old` holds is not known here: the plan adopts it by its stamps


def recover(
    client: ApiClient,
    manifest: Manifest,
    remote: list[RemoteImport],
    book: LockBook,
    progress: Progress,
    *,
    timeout: float,
    poll: PollPolicy,
    sleep: Callable[[float], None],
    force: bool = False,
) -> bool:
    """Finish the journal's operations; True when anything changed (the caller lists again). `force`:
    the run may replace protected imports."""
    ours = {r.id: r for r in remote if r.owner == manifest.owner}
    by_operation = {r.operation: r for r in ours.values() if r.operation}
    blocked: dict[str, str] = {}  # operation -> why its replace is not finished
    for op in book.state.journal:
        found = by_operation.get(op.operation)
        if found is not None and not op.abandoned and op.replaces in ours:
            why = replace_blocked(found, op.key, manifest, force=force)
            if why is not None:
                blocked[op.operation] = why
    gone: set[str] = set()
    with Watcher(client, poll, sleep=sleep) as watcher:
        # Every wait starts now, so that one poll serves them all and the timeout bounds them together.
        deadline = time.monotonic() + timeout
        watches = {}
        for op in book.state.journal:
            found = by_operation.get(op.operation)
            if found is not None and found.status == "processing" and not op.abandoned and op.operation not in blocked:
                watches[op.operation] = watcher.watch(found.id, found.created_at)
        for op in book.state.journal:
            found = by_operation.get(op.operation)
            old = ours.get(op.replaces) if op.replaces else None  # never an import that is not stamped as ours
            if found is None:
                progress(op.key, f"{_what(op)} had made nothing; forgetting it")
            elif op.abandoned:
                _delete(client, found.id, gone)
                progress(op.key, f"deleted {found.id}, made by a create that was given up on")
            elif op.operation in blocked:
                if old is not None:
                    _restore(book, manifest, op.key, old, found.id)
                _delete(client, found.id, gone)
                progress(op.key, f"{_what(op)}: deleted {found.id} and kept {op.replaces}: {blocked[op.operation]}")
            else:
                status = found.status
                if op.operation in watches:
                    try:
                        remaining = max(0.0, deadline - time.monotonic())
                        status = watcher.wait(watches[op.operation], timeout=remaining)["status"]
                    except StillProcessing:
                        progress(op.key, f"{_what(op)}: {found.id} still processing; leaving it for later")
                        continue
                if status == "completed":
                    progress(op.key, f"{_what(op)}: {found.id} completed")
                    if old is not None:
                        _delete(client, old.id, gone)
                        progress(op.key, f"deleted {old.id}, which {found.id} replaces")
                else:
                    if old is not None:
                        _restore(book, manifest, op.key, old, found.id)
                    _delete(client, found.id, gone)
                    progress(op.key, f"{_what(op)}: {found.id} was {status}; deleted it")
            book.end(op.operation)
    return bool(gone)


def _what(op: Operation) -> str:
    return "a create that was given up on" if op.abandoned else f"interrupted {op.action}"


def delete_strays(client: ApiClient, plan: Plan, progress: Progress) -> None:
    """Delete the imports the plan said it would: other claimants of a key it serves with one import."""
    gone: set[str] = set()
    for stray in plan.strays:
        _delete(client, stray.id, gone)
        progress(stray.key, f"deleted {stray.id}, {stray.why}")
