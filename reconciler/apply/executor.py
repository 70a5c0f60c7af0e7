"""Carrying out a plan: create, upload, wait, PATCH, delete, in parallel, checkpointing every step.

A create is written to the lockfile's journal, with a unique operation stamp, before the POST is sent.
If the POST's answer is lost, the listing is searched for that stamp: an import found is one whose
upload URL was lost with the answer, so it is deleted and the create tried again; none found means
nothing was made. A replace creates the new import and waits for it to complete before deleting the
old one, so a failed new import leaves the old one serving.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.book import LockBook
from reconciler.errors import ActionError, ApiError
from reconciler.lockfile import LockEntry, Operation
from reconciler.model import STAMP_OPERATION, DesiredImport, Manifest
from reconciler.plan.model import Action, Change
from reconciler.plan.planner import stamps
from reconciler.remote.client import ApiClient, OutcomeUnknown
from reconciler.remote.state import RemoteImport, read_remote

CREATE_ATTEMPTS = 3
UPLOAD_ATTEMPTS = 3
FINAL = frozenset({"completed", "failed", "canceled"})
_ACTIONS = ("create", "update", "replace", "delete")


class Progress(Protocol):
    def __call__(self, key: str, message: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to wait for processing: first delay, growth, cap (seconds)."""

    first: float = 0.1
    factor: float = 1.6
    cap: float = 5.0


@dataclass
class ApplyResult:
    """What an apply did, by action, and what failed."""

    done: dict[str, list[str]] = field(default_factory=lambda: {a: [] for a in _ACTIONS})
    failures: list[ActionError] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # keys left processing (--no-wait or --timeout)

    def summary(self) -> str:
        d = self.done
        return (
            f"{len(d['create'])} created, {len(d['update'])} updated, {len(d['replace'])} replaced, "
            f"{len(d['delete'])} deleted."
        )


class _Failed(Exception):
    def __init__(self, error: ActionError) -> None:
        super().__init__(str(error))
        self.error = error


class _StillProcessing(Exception):
    pass


def wait_for(
    client: ApiClient,
    import_id: str,
    *,
    timeout: float,
    poll: PollPolicy,
    sleep: Callable[[float], None],
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll until the import is completed, failed or canceled; raise _StillProcessing at the timeout."""
    deadline = clock() + timeout
    delay = poll.first
    while True:
        current = client.get(import_id)
        if current["status"] in FINAL:
            return current
        if clock() + delay > deadline:
            raise _StillProcessing(import_id)
        sleep(delay)
        delay = min(poll.cap, delay * poll.factor)


class Executor:
    """Runs the actionable changes of a plan against the API, writing the lockfile as it goes."""

    def __init__(
        self,
        client: ApiClient,
        manifest: Manifest,
        book: LockBook,
        *,
        progress: Progress,
        parallelism: int = 8,
        wait: bool = True,
        timeout: float = 1800.0,
        poll: PollPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.manifest, self.book = client, manifest, book
        self.progress = progress
        self.parallelism = max(1, parallelism)
        self.wait, self.timeout = wait, timeout
        self.poll = poll or PollPolicy()
        self.sleep = sleep

    def run(self, changes: tuple[Change, ...]) -> ApplyResult:
        result = ApplyResult()
        work = [c for c in changes if c.action is not Action.NOOP]
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply") as pool:
            # Outcomes are gathered here, in the calling thread, so the result needs no lock.
            for change, outcome in zip(work, pool.map(self._guarded, work), strict=True):
                if isinstance(outcome, ActionError):
                    result.failures.append(outcome)
                elif outcome == "pending":
                    result.pending.append(change.key)
                else:
                    result.done[change.action.value].append(change.key)
        return result

    def _guarded(self, change: Change) -> ActionError | str:
        try:
            return self._apply(change)
        except _Failed as exc:
            self.progress(change.key, f"failed: {exc.error.message}")
            return exc.error
        except ApiError as exc:
            error = ActionError(change.action.value, change.key, str(exc))
            self.progress(change.key, f"failed: {exc}")
            return error

    def _apply(self, change: Change) -> str:
        if change.action is Action.DELETE:
            assert change.id is not None
            self.client.delete(change.id)
            self.book.forget(change.key)
            self.progress(change.key, f"deleted {change.id}")
            return "done"
        desired = self.manifest.imports[change.key]
        if change.action is Action.UPDATE:
            assert change.id is not None
            self._update(desired, change.id)
            return "done"
        replaces = change.id if change.action is Action.REPLACE else None
        return self._create(desired, change.action.value, replaces)

    # -- update ---------------------------------------------------------------------------------

    def _update(self, d: DesiredImport, import_id: str) -> None:
        metadata = {**d.metadata, **stamps(self.manifest.owner, d)}
        answer = self.client.update(import_id, {"title": d.title, "metadata": metadata})
        if answer.get("title") != d.title or answer.get("metadata") != metadata:
            raise _Failed(
                ActionError("update", d.key, f"the API answered with other values than were sent to {import_id}")
            )
        self.book.record(d.key, LockEntry.of(d, import_id))
        self.progress(d.key, f"updated {import_id}")

    # -- create and replace ---------------------------------------------------------------------

    def _body(self, d: DesiredImport, operation: str) -> dict[str, Any]:
        return {
            "format": "csv",
            "size": d.csv.size,
            "count": d.csv.records,
            "title": d.title,
            "entity": d.entity.to_api(),
            "metadata": {**d.metadata, **stamps(self.manifest.owner, d), STAMP_OPERATION: operation},
            "csv": {"identifier": d.csv.identifier},
        }

    def _find(self, operation: str) -> RemoteImport | None:
        for item in read_remote(self.client):
            if item.operation == operation:
                return item
        return None

    def _discard(self, import_id: str) -> None:
        """Delete an import this run made and cannot use; a failure here is left to the next run's recovery."""
        with contextlib.suppress(ApiError):
            self.client.delete(import_id)

    def _create(self, d: DesiredImport, action: str, replaces: str | None) -> str:
        reason = "no attempt"
        for _ in range(CREATE_ATTEMPTS):
            operation = uuid.uuid4().hex
            self.book.begin(Operation(operation, d.key, action, replaces, d.csv.sha256))
            try:
                created = self.client.create(self._body(d, operation))
            except OutcomeUnknown as exc:
                found = self._find(operation)
                if found is not None:
                    self._discard(found.id)  # made, but its upload URL was lost with the answer
                self.book.end(operation)
                reason = str(exc)
                note = "cleaned up, retrying" if found else "retrying"
                self.progress(d.key, f"the create's answer was lost; {note}")
                continue
            except ApiError as exc:
                self.book.end(operation)
                raise _Failed(ActionError(action, d.key, str(exc))) from None
            import_id = created["id"]
            self.progress(d.key, f"created {import_id}; uploading {d.csv.size:,} bytes")
            try:
                uploaded = self._upload(created, d)
            except ApiError as exc:
                self._discard(import_id)
                self.book.end(operation)
                raise _Failed(ActionError("upload", d.key, str(exc))) from None
            if not uploaded:  # the URL expired or was refused: start again with a new import
                self._discard(import_id)
                self.book.end(operation)
                reason = "the upload URL could not be used"
                continue
            return self._finish(d, action, operation, import_id, replaces)
        raise _Failed(ActionError(action, d.key, f"gave up after {CREATE_ATTEMPTS} attempts: {reason}"))

    def _upload(self, created: dict[str, Any], d: DesiredImport) -> bool:
        """PUT the CSV; True once the service has it. A lost answer is settled by reading the status."""
        import_id = created["id"]
        for _ in range(UPLOAD_ATTEMPTS):
            try:
                self.client.upload(created["uploadUrl"], d.csv.absolute, d.csv.size, import_id)
                return True
            except OutcomeUnknown:
                pass
            except ApiError as exc:
                if exc.status != 403:
                    raise
            status = self.client.get(import_id)["status"]
            if status != "pending":
                return True
        return False

    def _finish(self, d: DesiredImport, action: str, operation: str, import_id: str, replaces: str | None) -> str:
        entry = LockEntry.of(d, import_id)
        if not self.wait:
            if replaces is None:
                self.book.end(operation, d.key, entry)
            self.progress(d.key, f"{import_id} is processing (not waiting)")
            return "pending"
        try:
            final = wait_for(self.client, import_id, timeout=self.timeout, poll=self.poll, sleep=self.sleep)
        except _StillProcessing:
            self.progress(d.key, f"{import_id} still processing after {self.timeout:g} s; the next apply finishes it")
            return "pending"
        if final["status"] != "completed":
            self._discard(import_id)
            self.book.end(operation)
            why = f"{final.get('failedReason')}: {final.get('failedMessage')}"
            kept = f"; {replaces} is kept" if replaces else ""
            raise _Failed(ActionError(action, d.key, f"import {import_id} {final['status']} ({why}){kept}"))
        if replaces is not None:
            self.book.record(d.key, entry)  # the new import serves from here on
            self.client.delete(replaces)
            self.progress(d.key, f"completed {import_id}; deleted {replaces}")
        else:
            self.progress(d.key, f"completed {import_id} ({int(final.get('count') or 0):,} records)")
        self.book.end(operation, d.key, entry)
        return "done"
