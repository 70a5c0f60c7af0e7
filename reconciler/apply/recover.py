"""Finishing what an interrupted apply left behind, before anything is planned.

Run under the state lock, so no other apply of this checkout is running: the journal's operations
are ours and their uploader is gone. The lock is a file, though, so an apply on another machine is not
excluded by it (CI serialises those with one concurrency group); recovery therefore leaves alone any
young import that its journal does not name.

1. Each journal operation is looked up by its stamp: completed -> kept (and the import it replaces,
   if any and if stamped as ours, deleted); processing -> waited for, then the same; pending, failed or
   canceled -> deleted; an operation the run gave up on (abandoned) -> deleted, whatever its status;
   not found -> it was never made. Then it leaves the journal.
2. Any other import of ours still pending after its upload window is deleted.
3. Where several settled imports of ours claim one key, the planner's choice is kept and the rest deleted;
   an import step 1 found completed is reported once, after this step, so no message contradicts another.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from reconciler.apply.book import LockBook
from reconciler.apply.executor import PollPolicy, Progress, _StillProcessing, wait_for
from reconciler.errors import ApiError
from reconciler.lockfile import Operation
from reconciler.model import Manifest
from reconciler.plan.planner import pick_claimant
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
    now: float | None = None,
) -> bool:
    """Repair the remote and the journal; True when anything changed (the caller lists again)."""
    owner = manifest.owner
    now = time.time() if now is None else now
    ours = [r for r in remote if r.owner == owner]
    ours_ids = {r.id for r in ours}
    by_operation = {r.operation: r for r in ours if r.operation}
    gone: set[str] = set()
    waiting: set[str] = set()  # interrupted creates still processing: theirs to finish, not duplicates
    completed: dict[str, Operation] = {}  # import id -> the interrupted create that made it
    for op in book.state.journal:
        found = by_operation.get(op.operation)
        if found is None:
            progress(op.key, f"interrupted {op.action} had made nothing; forgetting it")
        elif op.abandoned:
            _delete(client, found.id, gone)
            progress(op.key, f"deleted {found.id}, made by a create that was given up on")
        else:
            status = found.status
            if status == "processing":
                try:
                    status = wait_for(client, found.id, timeout=timeout, poll=poll, sleep=sleep)["status"]
                except _StillProcessing:
                    progress(op.key, f"interrupted {op.action}: {found.id} still processing; leaving it for later")
                    waiting.add(found.id)
                    continue
            if status == "completed":
                completed[found.id] = op
                if op.replaces in ours_ids:  # never an import that is not stamped as ours
                    _delete(client, op.replaces, gone)
                    progress(op.key, f"deleted {op.replaces}, which {found.id} replaces")
            else:
                _delete(client, found.id, gone)
                progress(op.key, f"interrupted {op.action}: {found.id} was {status}; deleted it")
        book.end(op.operation)
    for r in ours:
        if r.id not in gone and r.upload_expired(now):
            _delete(client, r.id, gone)
            progress(r.key or r.id, f"deleted {r.id}, an import whose upload never happened")
    _delete_duplicates(client, manifest, ours, book, progress, gone, waiting, completed)
    return bool(gone)


def _delete_duplicates(
    client: ApiClient,
    manifest: Manifest,
    ours: list[RemoteImport],
    book: LockBook,
    progress: Progress,
    gone: set[str],
    waiting: set[str],
    completed: dict[str, Operation],
) -> None:
    """Where several settled imports claim one key, keep the planner's choice and delete the rest. Each
    import an interrupted create completed is reported once, with what became of it."""
    claims: dict[str, list[RemoteImport]] = defaultdict(list)
    for r in ours:
        settled = r.status not in ("pending", "processing")
        if r.id not in gone and r.key and r.id not in waiting and settled:
            claims[r.key].append(r)
    entries = book.state.imports
    kept: dict[str, str] = {}
    for key, candidates in claims.items():
        keep = pick_claimant(candidates, entries[key].id if key in entries else None, manifest.imports.get(key))
        kept[key] = keep.id
        for r in candidates:
            if r is not keep:
                _delete(client, r.id, gone)
                if r.id not in completed:
                    progress(key, f"deleted {r.id}, a duplicate of {keep.id}")
    for import_id, op in completed.items():
        if import_id in gone:
            progress(
                op.key,
                f"interrupted {op.action}: {import_id} completed, but {kept.get(op.key)} holds the key; "
                f"deleted {import_id} as a duplicate",
            )
        else:
            progress(op.key, f"interrupted {op.action}: {import_id} completed; keeping it")
