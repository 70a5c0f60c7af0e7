"""An apply from start to end:

state lock -> snapshot -> plan (refusals; saved plan? stale check) -> finish the journal of an interrupted
  run, and plan again -> safety -> confirm -> delete the plan's strays -> execute (parallel, checkpointed,
  interruptible) -> settle the lockfile -> release the lock
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.apply.book import LockBook
from reconciler.apply.executor import ApplyResult, Executor, PollPolicy, Progress, Tracker
from reconciler.apply.interrupt import Interrupt
from reconciler.apply.locker import Held, lockers_for
from reconciler.apply.patch import listed_records
from reconciler.apply.recover import delete_strays, recover
from reconciler.apply.stale import check_stale, check_still_agrees
from reconciler.errors import ConfigError, PlanUnsafe, StalePlan
from reconciler.lockfile import Lock, LockEntry, lock_path_for
from reconciler.plan.digest import plan_digest
from reconciler.plan.drift import refreshed_entries
from reconciler.plan.model import Action, Basis, Plan, Selection
from reconciler.planfile import saved_changes
from reconciler.refresh import Snapshot, plan_from, read_snapshot, with_references
from reconciler.remote.client import ApiClient
from reconciler.remote.state import read_remote


@dataclass(frozen=True)
class ApplyOptions:
    """The apply command's choices."""

    targets: Selection | None = None
    force: bool = False
    replace: frozenset[str] = frozenset()  # --replace: keys replaced even when nothing changed
    refresh_only: bool = False  # record remote changes in the lockfile; change nothing remote
    expect_digest: str | None = None  # apply only a plan with this digest (the one that was reviewed)
    parallelism: int = 8
    wait: bool = True
    timeout: float = 1800.0
    lock_timeout: float = 0.0
    poll: PollPolicy = field(default_factory=PollPolicy)


class Declined(Exception):
    """The user did not confirm."""


def _settle(book: LockBook, plan: Plan, snapshot: Snapshot, targets: Selection | None) -> None:
    """Record what is true after the run: in-sync and adopted imports, minus entries whose import is
    gone and whose key left the manifest."""
    imports = dict(book.state.imports)
    if plan.refresh_only:
        book.settle(refreshed_entries(imports, plan.changes))
        return
    for change in plan.changes:
        if change.action is Action.NOOP and change.id is not None:
            records = listed_records(change.before)
            imports[change.key] = LockEntry.of(snapshot.manifest.imports[change.key], change.id, records)
    live = {r.id for r in snapshot.remote}
    ours = {r.id for r in snapshot.remote if r.owner == snapshot.manifest.owner}
    for key in snapshot.manifest.removed:  # forgotten by an earlier run whose record was lost
        if key in imports and imports[key].id not in ours:
            del imports[key]
    # An import recorded under a key of the manifest and under one that left it (a move whose record was
    # lost with the run) is recorded once, under the manifest's key.
    wanted = {entry.id for key, entry in imports.items() if key in snapshot.manifest.imports}
    for key, entry in list(imports.items()):
        if key in snapshot.manifest.imports or (targets is not None and not targets.selects(key)):
            continue
        if entry.id not in live or entry.id in wanted:
            del imports[key]
    book.settle(imports)


def _plan(snapshot: Snapshot, options: ApplyOptions, known: frozenset[str] = frozenset()) -> Plan:
    return plan_from(
        snapshot,
        options.targets,
        replace_keys=options.replace,
        refresh_only=options.refresh_only,
        known_operations=known,
    )


def apply(
    manifest_path: str,
    client: ApiClient,
    options: ApplyOptions,
    *,
    progress: Progress,
    show_plan: Callable[[Plan], None],
    confirm: Callable[[Plan], bool],
    saved: tuple[dict[str, Any], Basis] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    interrupt: Interrupt | None = None,
    tracker: Tracker | None = None,
) -> tuple[Plan, ApplyResult]:
    """Carry out the plan for the manifest (or the saved plan), under the state lock."""
    interrupt = interrupt or Interrupt()
    lock_file = lock_path_for(manifest_path)
    held = Held(lockers_for(manifest_path, client))
    held.acquire("apply", timeout=options.lock_timeout, sleep=sleep)
    client.guard = held.check  # no write goes out once a lock may have passed to another run
    book: LockBook | None = None
    try:
        snapshot = read_snapshot(manifest_path, client)
        held.check_owner(snapshot.manifest.owner, snapshot.manifest.lock)
        held.sweep(snapshot.claims)
        # Planned before anything is written: refusals (another owner's import in the lockfile, an unknown
        # --target) and a stale saved plan stop the run with nothing changed.
        if options.refresh_only and snapshot.lock is not None and snapshot.lock.journal:
            raise ConfigError(
                "--refresh-only: an interrupted apply left creates in flight; run apply without --refresh-only "
                "to finish them first"
            )
        plan = _plan(snapshot, options)
        if options.expect_digest is not None and (digest := plan_digest(plan)) != options.expect_digest:
            show_plan(plan)
            raise StalePlan(
                f"the plan moved since it was reviewed: its digest is {digest}, not {options.expect_digest} "
                "(the plan above is what apply would do now); nothing was applied"
            )
        if saved is not None:
            check_stale(saved[0], saved[1], snapshot.lock, snapshot.manifest, snapshot.remote, plan)
        book = LockBook(lock_file, snapshot.lock or Lock(snapshot.manifest.owner))
        if book.state.journal:
            finished = frozenset(op.operation for op in book.state.journal)  # ours, not another apply's
            repaired = recover(
                client,
                snapshot.manifest,
                snapshot.remote,
                book,
                progress,
                timeout=options.timeout,
                poll=options.poll,
                sleep=sleep,
                # A saved plan was made reading the journal as a run without --force finishes it
                # (planner.recovery_outlook): finishing it so keeps to what was reviewed.
                force=options.force and saved is None,
            )
            if repaired:
                snapshot = replace(snapshot, remote=read_remote(client))
            snapshot = replace(snapshot, lock=book.state)
            plan = _plan(snapshot, options, finished)
            if saved is not None:  # finishing the interrupted apply must leave the reviewed changes as they were
                check_still_agrees(saved[0], plan)
        plan = with_references(plan, client)
        changes = plan.changes
        if saved is not None:
            changes = saved_changes(saved[0])  # exactly what was reviewed, not the plan made just now
        show_plan(plan)
        if not plan.safe and not options.force:
            raise PlanUnsafe("the plan is unsafe (" + "; ".join(plan.unsafe) + "); re-run with --force to apply it")
        result = ApplyResult()
        if plan.has_changes and saved is None and not confirm(plan):
            raise Declined()
        if plan.has_changes and not plan.refresh_only:  # a refresh changes only the lockfile: _settle writes it
            delete_strays(client, plan, progress)
            client.stop = interrupt.stop  # stopping cuts the waits for the budget short, and sends no create
            executor = Executor(
                client,
                snapshot.manifest,
                book,
                progress=progress,
                parallelism=options.parallelism,
                wait=options.wait,
                timeout=options.timeout,
                poll=options.poll,
                sleep=sleep,
                stop=interrupt.stop,
                tracker=tracker,
            )
            interrupt.executing(lambda: executor.in_flight, book.quiet, held.release)
            result = executor.run(changes)
        interrupt.finished()
        _settle(book, plan, snapshot, options.targets)
        return plan, result
    finally:
        if book is not None:  # a run cut short by an error leaves its steps in the lockfile too
            book.close()
        client.guard = None
        held.release()
