"""The state lock: one apply at a time per lockfile, Terraform statemgr-style.

`acquire(info) -> id` creates `websets.lock.held` beside the lockfile with O_EXCL (atomic on a local
file system), holding who took it, why and when; `release(id)` removes it only if it is still ours.
A held lock is a LockHeld error carrying the holder's info; a holder that is gone from this host is
reported as stale, with the force-unlock command to run.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from reconciler.errors import LockHeld, ReconcilerError
from reconciler.files import read_regular

HELD_SUFFIX = ".held"
MAX_LOCK_INFO_BYTES = 65_536
UNREADABLE_PREFIX = "unreadable-"
WRITE_GRACE = 2.0  # seconds an unreadable lock file is taken for one being written, not one left by a kill
# Ids go into a shell command in the messages: anything else (a `?` is a glob) counts as unreadable.
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds the state lock."""

    id: str
    operation: str
    who: str
    pid: int
    host: str
    created: str
    path: str


def who() -> str:
    """The user running this process, as far as the system tells."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateLock:
    """The lock file for one lockfile path: a Locker (reconciler.apply.locker) for this checkout only."""

    name = "file"

    def __init__(self, lockfile: Path) -> None:
        self.path = lockfile.with_name(lockfile.name + HELD_SUFFIX)

    @property
    def where(self) -> str:
        return str(self.path)

    def check(self) -> None:
        """Nothing to check: a lock file does not expire."""

    def holder(self) -> dict[str, object] | None:
        """The holder's info; None when no lock is held. An unreadable lock gets an id for force-unlock."""
        try:
            # Regular files only, and small: a lock committed as a symlink to /dev/zero or a FIFO is refused.
            raw: bytes | None = read_regular(self.path, MAX_LOCK_INFO_BYTES)
        except FileNotFoundError:
            if not os.path.lexists(self.path):
                return None
            raw = None  # a dangling symbolic link
        except OSError:
            raw = None
        try:
            info = json.loads(raw) if raw is not None else None
        except ValueError:
            info = None
        if isinstance(info, dict) and isinstance(info.get("id"), str) and SAFE_ID.fullmatch(info["id"]):
            return info
        # An apply killed between creating the file and writing it leaves it empty. The id names these
        # exact bytes, so force-unlock cannot remove a lock that has since been written properly.
        digest = hashlib.sha256(raw or b"").hexdigest()[:12]
        return {"id": f"{UNREADABLE_PREFIX}{digest}", "note": "unreadable lock file"}

    def _describe(self, info: dict[str, object]) -> str:
        if info.get("note"):
            return (
                f"the state lock {self.path} is held but unreadable (empty or not lock JSON: an apply was killed "
                f"while taking it, or one is taking it right now): check no apply is running, then run "
                f"`websets-reconciler force-unlock {info.get('id')}`"
            )
        text = (
            f"the state lock {self.path} is held by {info.get('who')} (pid {info.get('pid')} on {info.get('host')}, "
            f"{info.get('operation')} since {info.get('created')}, lock id {info.get('id')})"
        )
        pid = info.get("pid")
        if info.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            return text + (
                f"; that process is gone, so the lock is stale: check no apply is running, then run "
                f"`websets-reconciler force-unlock {info.get('id')}`"
            )
        gone = f"run `websets-reconciler force-unlock {info.get('id')}`"
        return text + f"; wait with --lock-timeout, or, if that run is gone, {gone}"

    def acquire(self, operation: str, *, timeout: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> str:
        """Take the lock, waiting up to `timeout` seconds; return its id or raise LockHeld."""
        info = LockInfo(
            id=str(uuid.uuid4()),
            operation=operation,
            who=who(),
            pid=os.getpid(),
            host=socket.gethostname(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            path=str(self.path),
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self.holder() or {}
                if time.monotonic() >= deadline and not self._being_written(held):
                    raise LockHeld(self._describe(held), held) from None
                sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))
                continue
            except OSError as exc:
                raise ReconcilerError(f"{self.path}: cannot create the state lock: {exc.strerror}") from None
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(asdict(info), f, indent=2, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException as exc:
                # An empty lock would block every later apply until someone force-unlocks it.
                self.path.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise ReconcilerError(f"{self.path}: cannot write the state lock: {exc.strerror}") from None
                raise
            return info.id

    def _being_written(self, held: dict[str, object]) -> bool:
        # Another acquire creates the file, then writes it: for that moment it reads as unreadable.
        if not held.get("note"):
            return False
        try:
            return time.time() - self.path.lstat().st_mtime < WRITE_GRACE  # the link itself, if it is one
        except FileNotFoundError:
            return True  # released meanwhile: try again at once
        except OSError:
            return False

    def release(self, lock_id: str) -> None:
        """Remove the lock if it is still the one we took."""
        held = self.holder()
        if held is not None and held.get("id") == lock_id:
            self.path.unlink(missing_ok=True)

    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock whatever holds it, if its id is the one given."""
        held = self.holder()
        if held is None:
            raise ReconcilerError(f"{self.path}: no state lock is held")
        if held.get("id") != lock_id:
            raise ReconcilerError(f"{self.path}: the lock held has id {held.get('id')}, not {lock_id}; nothing removed")
        self.path.unlink(missing_ok=True)
