"""The lockfile during an apply: every completed step, and every create about to be sent, is on disk
before its caller goes on, so a run killed at any point leaves what the next run needs to finish.

A step is one line appended to the journal beside the lockfile (reconciler.apply.journal), written in
groups with the steps of other workers; the lockfile itself is written once, when the journal is folded
into it (compaction): when the book opens on a journal left by a killed run, when the run settles or
closes, and on a second Ctrl-C. What is on disk at each moment:

    before the first step      websets.lock (or none), as the last run left it
    during the steps           websets.lock unchanged + websets.lock.journal (header, then a line a step)
    compaction                 websets.lock rewritten atomically, serial + 1 (only if something changed),
                               then websets.lock.journal removed
    after                      websets.lock alone
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from reconciler.apply.journal import Journal, Records, encode, journal_path_for
from reconciler.errors import LockfileError
from reconciler.lockfile import Lock, LockEntry, Operation, read_lock_file, write_lock


class LockBook:
    """Thread-safe, write-through keeper of the lockfile and its journal."""

    def __init__(self, path: Path, lock: Lock) -> None:
        """`lock` is what the lockfile at `path` holds with its journal folded in (read_lock), or a new
        Lock when there is none; a journal left beside it is folded into the lockfile on disk now."""
        self.path = path
        self._mutex = threading.Lock()  # held for in-memory steps only, never across I/O
        self._base = lock  # what the lockfile on disk holds (or would hold: a new Lock is not written)
        self._records = Records(lock)
        self._journal = Journal(journal_path_for(path), lock)
        if self._journal.path.exists():
            self._fold_leftover()

    def _fold_leftover(self) -> None:
        on_disk = read_lock_file(self.path)
        if on_disk is None and self._base.serial == 0:
            pass  # a first apply's journal that recorded nothing: there is no lockfile to write
        elif on_disk is None or on_disk.to_json() != self._base.to_json():
            write_lock(self.path, self._base)
        with self._journal.io:
            self._journal.covered(self._base)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Hold this (`with book.quiet():`) to be sure no journal or lockfile write is under way or starts.
        On entry, the journal is folded into the lockfile, so the lockfile alone holds every step."""
        with self._mutex:
            self._journal.io.acquire()
            with contextlib.suppress(LockfileError):  # the journal stays, and is read in its place
                self._compact()
        try:
            yield
        finally:
            self._journal.io.release()

    @property
    def state(self) -> Lock:
        """The lockfile as it stands, with every step so far."""
        with self._mutex:
            return self._records.lock(self._base)

    def _step(self, event: dict[str, object], change: Callable[[Records], bool]) -> None:
        line = encode(event)
        with self._mutex:
            if not change(self._records):
                return  # nothing moved: nothing is written, so a no-op apply leaves no journal
            ticket = self._journal.add(line)
        self._journal.wait(ticket)

    def begin(self, op: Operation) -> None:
        """Record a create before it is sent, so its outcome can be found whatever happens next."""
        self._step({"event": "begin", "operation": op.to_json()}, lambda r: r.begin(op))

    def abandon(self, operation: str) -> None:
        """Give up on a create whose import may exist, or may yet appear: the next run deletes it."""
        self._step({"event": "abandon", "operation": operation}, lambda r: r.abandon(operation))

    def end(self, operation: str, key: str | None = None, entry: LockEntry | None = None) -> None:
        """Forget an operation; with `entry`, record in the same write what it made true for `key`."""
        event: dict[str, object] = {"event": "end", "operation": operation}
        if key is not None and entry is not None:
            event.update(key=key, entry=entry.to_json())
        self._step(event, lambda r: r.end(operation, key, entry))

    def record(self, key: str, entry: LockEntry) -> None:
        """Record what a step made true for `key`."""
        self._step({"event": "record", "key": key, "entry": entry.to_json()}, lambda r: r.record(key, entry))

    def forget(self, key: str) -> None:
        """Drop `key`, whose import is gone."""
        self._step({"event": "forget", "key": key}, lambda r: r.forget(key))

    def move(self, old: str, key: str, entry: LockEntry) -> None:
        """Record under `key` the import that was recorded under `old` (a renamed key)."""
        event = {"event": "move", "from": old, "key": key, "entry": entry.to_json()}
        self._step(event, lambda r: r.move(old, key, entry))

    def settle(self, imports: dict[str, LockEntry]) -> None:
        """Replace the recorded imports wholesale (the end of a run), keeping the operations in flight, and
        fold everything into the lockfile."""
        with self._mutex, self._journal.io:
            self._records.imports = dict(imports)
            self._compact()

    def close(self) -> None:
        """Fold the journal into the lockfile if that can be done; if not, the journal stays and is read
        in its place, so nothing is lost."""
        with self._mutex, self._journal.io, contextlib.suppress(LockfileError):
            self._compact()

    def _compact(self) -> None:
        # Called holding the mutex and the journal's io lock: no step moves, no line is being written.
        new = self._records.lock(self._base)
        if new.serial != self._base.serial:
            write_lock(self.path, new)
        self._base = new
        self._journal.covered(new)
