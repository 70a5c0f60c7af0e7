"""The lockfile during an apply: every completed step, and every create about to be sent, is written
at once (atomically), so a run killed at any point leaves a lockfile the next run can finish from."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from reconciler.lockfile import Lock, LockEntry, Operation, write_lock


class LockBook:
    """Thread-safe, write-through keeper of the lockfile."""

    def __init__(self, path: Path, lock: Lock) -> None:
        self.path = path
        self._state = lock
        self._mutex = threading.Lock()

    def quiet(self) -> threading.Lock:
        """Hold this (`with book.quiet():`) to be sure no lockfile write is under way or starts."""
        return self._mutex

    @property
    def state(self) -> Lock:
        with self._mutex:
            return self._state

    def _commit(self, new: Lock) -> None:
        # Only a real change bumps the serial and touches the disk, so a no-op apply leaves no diff.
        if replace(new, serial=self._state.serial).to_json() == self._state.to_json():
            return
        new = replace(new, serial=self._state.serial + 1)
        write_lock(self.path, new)
        self._state = new

    def begin(self, op: Operation) -> None:
        """Record a create before it is sent, so its outcome can be found whatever happens next."""
        with self._mutex:
            self._commit(replace(self._state, journal=(*self._state.journal, op)))

    def abandon(self, operation: str) -> None:
        """Give up on a create whose import may exist, or may yet appear: the next run deletes it."""
        with self._mutex:
            journal = tuple(
                replace(op, abandoned=True) if op.operation == operation else op for op in self._state.journal
            )
            self._commit(replace(self._state, journal=journal))

    def end(self, operation: str, key: str | None = None, entry: LockEntry | None = None) -> None:
        """Forget an operation; with `entry`, record in the same write what it made true for `key`."""
        with self._mutex:
            imports = dict(self._state.imports)
            if key is not None and entry is not None:
                imports[key] = entry
            journal = tuple(op for op in self._state.journal if op.operation != operation)
            self._commit(replace(self._state, imports=imports, journal=journal))

    def record(self, key: str, entry: LockEntry) -> None:
        with self._mutex:
            self._commit(replace(self._state, imports={**self._state.imports, key: entry}))

    def forget(self, key: str) -> None:
        with self._mutex:
            imports = {k: v for k, v in self._state.imports.items() if k != key}
            self._commit(replace(self._state, imports=imports))

    def settle(self, imports: dict[str, LockEntry]) -> None:
        """Replace the recorded imports wholesale (the end of a run), keeping the journal."""
        with self._mutex:
            self._commit(replace(self._state, imports=dict(imports)))
