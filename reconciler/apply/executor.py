"""Carrying out a plan: create, upload, wait, PATCH, delete, in parallel, checkpointing every step.

A create is written to the lockfile's journal, with a unique operation stamp, before the POST is sent.
If the POST's answer is lost, the newest pages of the listing are searched for that stamp: an import
found is one whose upload URL was lost with the answer, so it is deleted and the create tried again;
none found means nothing was made. A replace creates the new import and waits for it to complete before
deleting the old one, so a failed new import leaves the old one serving.

`parallelism` bounds the steps that are sending requests. A step whose import is still processing at
its first poll hands its slot to the next step while it waits (the run's one `Watcher` polls for all of
them), so long processing does not hold the requests back.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.book import LockBook
from reconciler.apply.interrupt import leave_signals_to_the_main_thread
from reconciler.apply.patch import Patcher, Progress, StepFailed, listed_records
from reconciler.apply.watch import PollPolicy, StillProcessing, Watcher
from reconciler.errors import ActionError, ApiError
from reconciler.lockfile import LockEntry, Operation
from reconciler.model import STAMP_OPERATION, DesiredImport, Manifest
from reconciler.plan.model import Action, Change
from reconciler.plan.planner import desired_from_after, stamps
from reconciler.remote.client import ApiClient, OutcomeUnknown, Stopped
from reconciler.remote.state import RemoteImport, find_stamped

CREATE_ATTEMPTS = 3
# Steps waiting for processing, beyond those sending requests: about one listing page of them.
MAX_WAITING = 200
# A gateway answered for a service it could not hear from: the request may still be carried out.
_GATEWAY = frozenset({502, 504})
_ACTIONS = ("create", "update", "replace", "delete", "adopt", "move", "forget")


class Tracker(Protocol):
    """Counts for a progress display: steps in all and done, and the waits for processing."""

    def total(self, n: int) -> None: ...
    def step_done(self, key: str) -> None: ...
    def waiting(self, key: str, import_id: str) -> None: ...
    def waited(self, key: str) -> None: ...


class NoTracker:
    """A Tracker that counts nothing."""

    def total(self, n: int) -> None:
        pass

    def step_done(self, key: str) -> None:
        pass

    def waiting(self, key: str, import_id: str) -> None:
        pass

    def waited(self, key: str) -> None:
        pass


@dataclass
class ApplyResult:
    """What an apply did, by action, and what failed."""

    done: dict[str, list[str]] = field(default_factory=lambda: {a: [] for a in _ACTIONS})
    failures: list[ActionError] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # keys left processing (--no-wait, --timeout, interrupted)
    skipped: list[str] = field(default_factory=list)  # keys not started because the run was interrupted

    def summary(self) -> str:
        d = self.done
        text = (
            f"{len(d['create'])} created, {len(d['update'])} updated, {len(d['replace'])} replaced, "
            f"{len(d['delete'])} deleted"
        )
        for action, verb in (("adopt", "adopted"), ("move", "moved"), ("forget", "forgotten")):
            if d[action]:
                text += f", {len(d[action])} {verb}"
        return text + "."


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
        stop: threading.Event | None = None,
        tracker: Tracker | None = None,
    ) -> None:
        self.client, self.manifest, self.book = client, manifest, book
        self.stop = stop or threading.Event()  # set: start nothing new, stop waiting for processing
        self._running = 0
        self._running_lock = threading.Lock()
        self.progress = progress
        self.parallelism = max(1, parallelism)
        self.wait, self.timeout = wait, timeout
        self.poll = poll or PollPolicy()
        self.sleep = sleep
        self.tracker = tracker or NoTracker()
        self.watcher = Watcher(client, self.poll, sleep=sleep)
        self._slots = threading.BoundedSemaphore(self.parallelism)  # steps sending requests
        self.patcher = Patcher(client, manifest.owner, book, progress)

    def run(self, changes: tuple[Change, ...]) -> ApplyResult:
        result = ApplyResult()
        work = [c for c in changes if c.action is not Action.NOOP]
        self.tracker.total(len(work))
        threads = max(1, min(len(work), self.parallelism + MAX_WAITING))
        pool = ThreadPoolExecutor(threads, thread_name_prefix="apply", initializer=leave_signals_to_the_main_thread)
        with self.watcher, pool:
            # Outcomes are gathered here, in the calling thread, so the result needs no lock.
            for change, outcome in zip(work, pool.map(self._slotted, work), strict=True):
                if isinstance(outcome, ActionError):
                    result.failures.append(outcome)
                elif outcome == "pending":
                    result.pending.append(change.key)
                elif outcome == "skipped":
                    result.skipped.append(change.key)
                else:
                    result.done[change.action.value].append(change.key)
        return result

    @property
    def in_flight(self) -> int:
        """Steps started and not yet finished."""
        with self._running_lock:
            return self._running

    def _slotted(self, change: Change) -> ActionError | str:
        with self._slots:  # given up while the step waits for processing (`_finish`)
            return self._guarded(change)

    def _guarded(self, change: Change) -> ActionError | str:
        with self._running_lock:
            if self.stop.is_set():
                return "skipped"
            self._running += 1
        try:
            return self._apply(change)
        except StepFailed as exc:
            self.progress(change.key, f"failed: {exc.error.message}")
            return exc.error
        except ApiError as exc:
            error = ActionError(change.action.value, change.key, str(exc))
            self.progress(change.key, f"failed: {exc}")
            return error
        finally:
            with self._running_lock:
                self._running -= 1
            self.tracker.step_done(change.key)

    def _apply(self, change: Change) -> str:
        if change.action is Action.DELETE:
            assert change.id is not None
            self.client.delete(change.id)
            self.book.forget(change.key)
            self.progress(change.key, f"deleted {change.id}")
            return "done"
        if change.action is Action.FORGET:
            assert change.id is not None
            self.patcher.forget(change.key, change.id, (change.before or {}).get("metadata") or {})
            return "done"
        desired = desired_from_after(self.manifest.imports[change.key], change.after)
        records = listed_records(change.before)
        if change.action in (Action.UPDATE, Action.ADOPT, Action.MOVE):
            assert change.id is not None
            self.patcher.update(desired, change.id, records, moved_from=change.moved_from)
            return "done"
        replaces = change.id if change.action is Action.REPLACE else None
        if change.adopting and replaces is not None:  # made ours first, so that recovery may delete it
            self.patcher.adopt_for_replace(desired, replaces, change.before or {})
        return self._create(desired, change.action.value, replaces, change.moved_from)

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

    def _find(self, operation: str, since: float) -> RemoteImport | None:
        """The import a create sent at `since` (epoch seconds) made, if any: the newest pages only."""
        return find_stamped(self.client, operation, since)

    def _discard(self, import_id: str) -> bool:
        """Delete an import this run made and cannot use; False when the delete failed."""
        try:
            self.client.delete(import_id)
        except ApiError:
            return False
        return True

    def _let_go(self, operation: str, import_id: str | None) -> None:
        """Give up on a create. Its import is deleted and the operation forgotten; when the import could
        not be deleted, or is not known (a lost answer: it may yet appear), the operation stays in the
        journal, abandoned, so that the next run deletes whatever carries its stamp."""
        if import_id is not None and self._discard(import_id):
            self.book.end(operation)
        else:
            self.book.abandon(operation)

    def _create(self, d: DesiredImport, action: str, replaces: str | None, moved_from: str | None = None) -> str:
        reason = "no attempt"
        for attempt in range(CREATE_ATTEMPTS):
            if attempt and self.stop.is_set():  # a new attempt is new work
                return "skipped"
            operation = uuid.uuid4().hex
            self.book.begin(Operation(operation, d.key, action, replaces, d.csv.sha256))
            sent = time.time()
            try:
                created = self.client.create(self._body(d, operation))
            except Stopped:  # never sent: nothing was made
                self.book.end(operation)
                return "skipped"
            except OutcomeUnknown as exc:
                found = self._find(operation, sent)  # made or not, its upload URL was lost with the answer
                if found is None and exc.status and exc.status not in _GATEWAY:  # the service is done: none made
                    self.book.end(operation)
                else:
                    self._let_go(operation, found.id if found else None)
                reason = str(exc)
                note = "cleaned up, retrying" if found else "retrying"
                what = "could not be used" if exc.status else "was lost"
                self.progress(d.key, f"the create's answer {what}; {note}")
                continue
            except ApiError as exc:
                self.book.end(operation)
                raise StepFailed(ActionError(action, d.key, str(exc))) from None
            import_id = created["id"]
            self.progress(d.key, f"created {import_id}; uploading {d.csv.size:,} bytes")
            try:
                uploaded = self._upload(created, d)
            except ApiError as exc:
                self._let_go(operation, import_id)
                raise StepFailed(ActionError("upload", d.key, str(exc))) from None
            if not uploaded:  # the URL expired or was refused: start again with a new import
                self._let_go(operation, import_id)
                reason = "the upload URL could not be used"
                continue
            return self._finish(d, action, operation, import_id, replaces, created.get("createdAt"), moved_from)
        raise StepFailed(ActionError(action, d.key, f"gave up after {CREATE_ATTEMPTS} attempts: {reason}"))

    def _upload(self, created: dict[str, Any], d: DesiredImport) -> bool:
        """PUT the CSV; True once the service has it, False when its URL can no longer be used.
        Raises ApiError (CsvChanged when the file moved since the plan) for a failure to report."""
        import_id = created["id"]
        try:
            self.client.upload(created["uploadUrl"], d.csv, import_id, valid_until=created.get("uploadValidUntil"))
            return True
        except ApiError as exc:
            if exc.status == 0 and not isinstance(exc, OutcomeUnknown):
                raise  # the CSV could not be read, or changed since the plan (CsvChanged): nothing was sent whole
            # An earlier attempt may have landed with its answer lost: the host then refuses the retry
            # (403) or keeps failing, and only the import's status tells.
            if self.client.get(import_id)["status"] != "pending":
                return True
            if isinstance(exc, OutcomeUnknown) or exc.status == 403:
                return False  # never received, and the URL is spent or expired: a new import is needed
            raise

    def _finish(
        self,
        d: DesiredImport,
        action: str,
        operation: str,
        import_id: str,
        replaces: str | None,
        created_at: str | None = None,
        moved_from: str | None = None,
    ) -> str:
        entry = LockEntry.of(d, import_id)
        if not self.wait:
            if replaces is None:
                self.book.end(operation, d.key, entry)
            self.progress(d.key, f"{import_id} is processing (not waiting)")
            return "pending"
        self.tracker.waiting(d.key, import_id)
        handed_over = threading.Event()

        def hand_over() -> None:  # still processing: let the next step send its requests meanwhile
            handed_over.set()
            self._slots.release()

        try:
            watch = self.watcher.watch(import_id, created_at)
            final = self.watcher.wait(watch, timeout=self.timeout, stop=self.stop, on_long_wait=hand_over)
        except StillProcessing:
            why = "not waiting: interrupted" if self.stop.is_set() else f"still processing after {self.timeout:g} s"
            self.progress(d.key, f"{import_id} {why}; the next apply finishes it")
            return "pending"
        finally:
            self.tracker.waited(d.key)  # before a slot is waited for: that is not processing
            if handed_over.is_set():
                self._slots.acquire()  # what follows (delete, record) sends requests again
        if final["status"] != "completed":
            self._let_go(operation, import_id)
            why = f"{final.get('failedReason')}: {final.get('failedMessage')}"
            kept = f"; {replaces} is kept" if replaces else ""
            raise StepFailed(ActionError(action, d.key, f"import {import_id} {final['status']} ({why}){kept}"))
        if replaces is not None:
            # The new import serves from here on (under the new key, for a replace that also moves).
            if moved_from is not None:
                self.book.move(moved_from, d.key, entry)
            else:
                self.book.record(d.key, entry)
            self.client.delete(replaces)
            self.progress(d.key, f"completed {import_id}; deleted {replaces}")
        else:
            self.progress(d.key, f"completed {import_id} ({int(final.get('count') or 0):,} records)")
        self.book.end(operation, d.key, entry)
        return "done"
