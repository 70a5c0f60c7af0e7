"""Reading everything a plan is built on: the manifest (and CSVs), the lockfile, the remote listing.

The listing waits on the network while the manifest, the lockfile and the CSVs are read from disk, so
they run side by side. The lockfile is read as soon as the manifest's owner is known, before the CSVs:
a CSV it records byte for byte is then hashed, not parsed again. The listing starts before the loader
and the planner are even imported.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.apply.journal import read_lock
from reconciler.errors import LockfileError
from reconciler.lockfile import Lock, LockEntry, lock_path_for
from reconciler.model import Manifest
from reconciler.remote.state import Listing, RemoteImport

if TYPE_CHECKING:
    from reconciler.plan.model import Plan, Selection
    from reconciler.plan.planner import Precomputed
    from reconciler.remote.client import ApiClient


@dataclass(frozen=True)
class Snapshot:
    """The three inputs of the planner, read at one moment."""

    manifest: Manifest
    lock: Lock | None
    remote: list[RemoteImport]
    # Changes the planner worked out while the listing arrived; it checks that they still apply.
    precomputed: Precomputed | None = field(default=None, repr=False, compare=False)
    claims: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False)  # the state lock's


@contextmanager
def _responsive_io(interval: float = 0.0005) -> Iterator[None]:
    """While parsing holds the GIL, let the listing thread take it back soon after each page arrives:
    pages are sequential, so every millisecond it waits delays all the pages after it."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class _LockReader:
    """The lockfile, read once the manifest names its owner. An error in it is kept until the manifest
    has loaded, so that the manifest's own errors are reported first, as they always were."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read: tuple[str, Lock | None] | None = None
        self._error: LockfileError | None = None

    def entries(self, owner: str) -> Mapping[str, LockEntry]:
        """The lockfile's entries by key, for the loader; none when there is no lockfile or it is refused."""
        try:
            lock = read_lock(self.path, owner)
        except LockfileError as exc:
            self._error = exc
            return {}
        self._read = (owner, lock)
        return lock.imports if lock is not None else {}

    def lock(self, owner: str) -> Lock | None:
        """The lockfile of the loaded manifest's owner; raises what reading it raised."""
        if self._error is not None:
            raise self._error
        if self._read is not None and self._read[0] == owner:
            return self._read[1]
        return read_lock(self.path, owner)


@contextmanager
def paused_cycle_collection() -> Iterator[None]:
    """Reading ten thousand imports builds hundreds of thousands of objects and no garbage cycles worth
    collecting: the cycle collector would walk them all again and again, about a fifth of the reading time,
    for nothing. It is paused meanwhile, and resumed as it was (never frozen: a process that plans many
    times still collects the cycles it makes). Once resumed, it walks what was built once more (some
    40 ms for ten thousand imports), so a command that exits after its plan pauses it for its whole run
    (also a decorator)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_snapshot(manifest_path: str, client: ApiClient) -> Snapshot:
    """Load the manifest and lockfile while the remote is listed; errors of the manifest come first."""
    with _responsive_io(), paused_cycle_collection():
        listing = Listing(client)
        from reconciler.manifest.load import load_manifest

        lock_reader = _LockReader(lock_path_for(manifest_path))
        manifest = load_manifest(manifest_path, recorded=lock_reader.entries)
        client.prefer_rate(manifest.max_rps)  # the listing's first pages went at the default rate
        lock = lock_reader.lock(manifest.owner)
        # While the rest of the listing arrives, each page is planned as far as it can be without the others.
        from reconciler.plan.planner import Precomputed

        precomputed = Precomputed(manifest, lock)
        remote = listing.result(each_page=precomputed.add)
    return Snapshot(manifest, lock, remote, precomputed, tuple(listing.claims))


def plan_from(
    snapshot: Snapshot,
    targets: Selection | frozenset[str] | None = None,
    now: float | None = None,
    *,
    replace_keys: frozenset[str] = frozenset(),
    refresh_only: bool = False,
    known_operations: frozenset[str] = frozenset(),
) -> Plan:
    """The plan for a snapshot (with `refresh_only`, the plan that records remote changes in the lockfile);
    `known_operations` are creates this run knows of beside those of the snapshot's journal."""
    from reconciler.plan.model import Selection

    if refresh_only:
        from reconciler.plan.drift import build_refresh_plan

        return build_refresh_plan(snapshot.manifest, snapshot.remote, snapshot.lock, Selection.of(targets))
    from reconciler.plan.planner import build_plan

    with paused_cycle_collection():
        return build_plan(
            snapshot.manifest,
            snapshot.remote,
            snapshot.lock,
            now=now or time.time(),
            targets=targets,
            precomputed=snapshot.precomputed,
            replace_keys=replace_keys,
            known_operations=known_operations,
        )


def with_references(plan: Plan, client: ApiClient) -> Plan:
    """`plan` with the websets that use an import it replaces, deletes or forgets (read only when it has one)."""
    ids = {c.id for c in plan.actionable if c.action.breaks_references and c.id}
    if not ids:
        return plan
    from dataclasses import replace

    from reconciler.remote.websets import read_references

    references, unknown = read_references(client, ids)
    return replace(plan, references=tuple(references), references_unknown=unknown)
