"""Reading everything a plan is built on: the manifest (and CSVs), the lockfile, the remote listing.

The listing waits on the network while the manifest and its CSVs are read from disk, so the two
run side by side.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from reconciler.lockfile import Lock, lock_path_for, read_lock
from reconciler.manifest.load import load_manifest
from reconciler.model import Manifest
from reconciler.plan.model import Plan
from reconciler.plan.planner import build_plan
from reconciler.remote.client import ApiClient
from reconciler.remote.state import RemoteImport, read_remote


@dataclass(frozen=True)
class Snapshot:
    """The three inputs of the planner, read at one moment."""

    manifest: Manifest
    lock: Lock | None
    remote: list[RemoteImport]


class _Background:
    """A result computed in a daemon thread. Not a ThreadPoolExecutor: its threads are joined at
    interpreter exit, so an invalid manifest would wait for the whole listing before being reported."""

    def __init__(self, target: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self._thread.start()

    def _run(self, target: Any) -> None:
        try:
            self.result = target()
        except BaseException as exc:
            self.error = exc

    def join(self) -> Any:
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.result


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


def read_snapshot(manifest_path: str, client: ApiClient) -> Snapshot:
    """Load the manifest and lockfile while the remote is listed; errors of the manifest come first."""
    with _responsive_io():
        listing = _Background(lambda: read_remote(client))
        manifest = load_manifest(manifest_path)
        lock = read_lock(lock_path_for(manifest_path), manifest.owner)
    return Snapshot(manifest, lock, listing.join())


def plan_from(snapshot: Snapshot, targets: frozenset[str] | None = None, now: float | None = None) -> Plan:
    return build_plan(snapshot.manifest, snapshot.remote, snapshot.lock, now=now or time.time(), targets=targets)
