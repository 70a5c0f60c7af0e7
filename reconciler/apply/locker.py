"""One interface for the state lock's backends, as Terraform's statemgr.Locker is one for its backends.

    acquire(operation, timeout=, sleep=) -> id   take it, waiting up to `timeout`; LockHeld names the holder
                                                 and the id to give force-unlock
    check()                                      raise LockLost when a write must not go out any more
    release(id)                                  let go of the lock taken, and only of it
    force_unlock(id)                             remove the lock with that id, whoever holds it

The backends: StateLock (a file beside the lockfile: one checkout) and ServiceLock (claims on the service:
one owner, every machine). An apply holds the file lock, which also keeps two runs of one checkout from
writing its journal at once, and then the lock the manifest's `lock.backend` names (service by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from reconciler.apply.servicelock import ServiceLock
from reconciler.apply.statelock import StateLock
from reconciler.errors import ReconcilerError
from reconciler.lockfile import lock_path_for
from reconciler.model import LockSettings
from reconciler.remote.client import ApiClient


class Locker(Protocol):
    """A state lock backend."""

    name: str

    @property
    def where(self) -> str: ...
    def acquire(self, operation: str, *, timeout: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> str: ...
    def check(self) -> None: ...
    def release(self, lock_id: str) -> None: ...
    def force_unlock(self, lock_id: str) -> None: ...


def lockers_for(manifest_path: str, client: ApiClient) -> list[Locker]:
    """The lockers of the manifest at `manifest_path`, in the order they are taken."""
    from reconciler.manifest.head import read_head

    lockers: list[Locker] = [StateLock(lock_path_for(manifest_path))]
    head = read_head(manifest_path)
    if head is None:  # laid out so that a quick look cannot vouch for it: the loader reads it, or says why not
        from reconciler.manifest.load import load_manifest

        manifest = load_manifest(manifest_path)
        head = (manifest.owner, manifest.lock)
    owner, settings = head
    if settings.backend == "service":
        lockers.append(ServiceLock(client, owner, settings.lease))
    return lockers


class Held:
    """The locks an apply holds, taken in order and let go of in reverse; one deadline for all of them."""

    def __init__(self, lockers: list[Locker]) -> None:
        self.lockers = lockers
        self._taken: list[tuple[Locker, str]] = []

    def acquire(self, operation: str, *, timeout: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        deadline = time.monotonic() + timeout
        try:
            for locker in self.lockers:
                left = max(deadline - time.monotonic(), 0.0)
                self._taken.append((locker, locker.acquire(operation, timeout=left, sleep=sleep)))
        except BaseException:
            self.release()
            raise

    def check_owner(self, owner: str, settings: LockSettings | None = None) -> None:
        """Refuse to go on when the manifest loaded names another owner, or another lock, than the one
        locked (a quick reading of it that the full load contradicts)."""
        service = [locker for locker in self.lockers if isinstance(locker, ServiceLock)]
        if settings is not None and (settings.backend == "service") != bool(service):
            raise ReconcilerError("the manifest's lock section reads two ways; write it as a plain block and run again")
        for locker in self.lockers:
            if isinstance(locker, ServiceLock) and locker.owner != owner:
                raise ReconcilerError(
                    f"the manifest's owner changed while apply started ({locker.owner!r}, then {owner!r}); run it again"
                )

    def sweep(self, claims: tuple[dict[str, Any], ...]) -> None:
        """Delete the claims crashed runs left on the service (each blocked no one past its lease)."""
        for locker, _ in self._taken:
            if isinstance(locker, ServiceLock):
                locker.sweep(claims)

    def check(self) -> None:
        """Raise LockLost when any lock held may have passed to another run."""
        for locker, _ in self._taken:
            locker.check()

    def release(self) -> None:
        """Let go of every lock taken, the last first."""
        while self._taken:
            locker, lock_id = self._taken.pop()
            locker.release(lock_id)


def force_unlock(lockers: list[Locker], lock_id: str) -> str:
    """Remove the lock `lock_id` from the backend that has it; say where. Raise when none has it."""
    problems = []
    for locker in lockers:
        try:
            locker.force_unlock(lock_id)
        except ReconcilerError as exc:
            problems.append(str(exc))
            continue
        return locker.where
    raise ReconcilerError("; ".join(problems))
