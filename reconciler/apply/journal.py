"""websets.lock.journal: the steps of an apply since the lockfile was last written, one line each.

An apply appends a line per step instead of rewriting the lockfile, so a step costs the same with ten
imports or ten thousand; the lockfile is rewritten once, when the journal is folded into it (compacted).

    {"crc32":"1c291ca3","event":{"event":"header","lineage":"...","owner":"growth","serial":7,"version":1}}
    {"crc32":"8a0e5f21","event":{"event":"begin","operation":{"operation":"...","key":"a",...}}}
    {"crc32":"03b1d7c4","event":{"entry":{...},"event":"end","key":"a","operation":"..."}}

- The header names the lockfile the journal applies on top of (its lineage and serial; serial 0 with no
  lockfile: a first apply). A journal whose header names another is stale: the lockfile was written with
  it folded in, and the journal's removal did not happen. It is ignored, and removed by the next apply.
- Every line carries the CRC-32 of its event's bytes. Lines are only appended, and a caller returns only
  once its line is on disk (fsync) together with every line before it: so reading stops at the first line
  that is torn or fails its check, and what it drops was never acknowledged to anyone.
- Writers are grouped (group commit): whichever caller finds no write under way writes and fsyncs every
  line queued so far, and each caller returns once its own line is durable.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.errors import LockfileError
from reconciler.files import load_json_strictly
from reconciler.lockfile import Lock, LockEntry, Operation, read_lock_file, read_state_file
from reconciler.manifest.schema import first_error

JOURNAL_SUFFIX = ".journal"
VERSION = 1
_HEAD = b'{"crc32":"'
_MIDDLE = b'","event":'
_PAYLOAD_AT = len(_HEAD) + 8 + len(_MIDDLE)
_fdatasync = getattr(os, "fdatasync", os.fsync)  # the data and the size; not the times


def journal_path_for(lock_path: Path) -> Path:
    """The journal beside the lockfile."""
    return lock_path.with_name(lock_path.name + JOURNAL_SUFFIX)


def encode(event: dict[str, Any]) -> bytes:
    """One self-checking line."""
    payload = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%s%08x%s%s}\n" % (_HEAD, zlib.crc32(payload), _MIDDLE, payload)


def _decode(line: bytes) -> bytes | None:
    """The event's bytes, or None for a line that is torn or fails its check."""
    if len(line) < _PAYLOAD_AT + 2 or not line.startswith(_HEAD) or not line.endswith(b"}"):
        return None
    if line[len(_HEAD) + 8 : _PAYLOAD_AT] != _MIDDLE:
        return None
    payload = line[_PAYLOAD_AT:-1]
    try:
        crc = int(line[len(_HEAD) : len(_HEAD) + 8], 16)
    except ValueError:
        return None
    return payload if zlib.crc32(payload) == crc else None


def header(lock: Lock) -> dict[str, Any]:
    """The first line of a journal that applies on top of `lock`."""
    return {"event": "header", "version": VERSION, "owner": lock.owner, "lineage": lock.lineage, "serial": lock.serial}


class Records:
    """The imports and the operations in flight, changed one step at a time, each step O(1)."""

    def __init__(self, lock: Lock) -> None:
        self.imports: dict[str, LockEntry] = dict(lock.imports)
        self.ops: dict[str, Operation] = {op.operation: op for op in lock.journal}

    def begin(self, op: Operation) -> bool:
        self.ops[op.operation] = op
        return True

    def abandon(self, operation: str) -> bool:
        op = self.ops.get(operation)
        if op is None or op.abandoned:
            return False
        self.ops[operation] = replace(op, abandoned=True)  # keeps its place: recovery goes in begin order
        return True

    def end(self, operation: str, key: str | None, entry: LockEntry | None) -> bool:
        changed = self.ops.pop(operation, None) is not None
        if key is not None and entry is not None:
            changed = self.record(key, entry) or changed
        return changed

    def record(self, key: str, entry: LockEntry) -> bool:
        if self.imports.get(key) == entry:
            return False
        self.imports[key] = entry
        return True

    def forget(self, key: str) -> bool:
        return self.imports.pop(key, None) is not None

    def move(self, old: str, key: str, entry: LockEntry) -> bool:
        """`old`'s import is now recorded under `key`: one step, so no reader sees it under both or neither."""
        return self.forget(old) | self.record(key, entry)

    def replay(self, event: dict[str, Any]) -> None:
        """Apply one journal event; raises KeyError, TypeError or ValueError when it is malformed."""
        kind = event["event"]
        if kind == "begin":
            self.begin(Operation(**event["operation"]))
        elif kind == "abandon":
            self.abandon(event["operation"])
        elif kind == "end":
            entry = LockEntry.from_json(event["entry"]) if "entry" in event else None
            self.end(event["operation"], event.get("key"), entry)
        elif kind == "record":
            self.record(event["key"], LockEntry.from_json(event["entry"]))
        elif kind == "forget":
            self.forget(event["key"])
        elif kind == "move":
            self.move(event["from"], event["key"], LockEntry.from_json(event["entry"]))
        else:
            raise ValueError(f"unknown event {kind!r}")

    def lock(self, base: Lock) -> Lock:
        """The lockfile these records make, on top of `base`: its serial moves only when its content does."""
        imports, journal = dict(self.imports), tuple(self.ops.values())
        changed = imports != base.imports or self.ops != {op.operation: op for op in base.journal}
        return Lock(base.owner, base.lineage, base.serial + int(changed), imports, journal)


@dataclass(frozen=True)
class JournalFile:
    """What a journal on disk holds: its header, and its events with their line numbers."""

    path: Path
    header: dict[str, Any]
    events: list[tuple[int, dict[str, Any]]]

    def applies_to(self, lock: Lock | None) -> bool:
        """Whether it was written on top of `lock` (None: no lockfile), rather than left from a compaction."""
        h = self.header
        if lock is None:
            return h["serial"] == 0
        return (h["owner"], h["lineage"], h["serial"]) == (lock.owner, lock.lineage, lock.serial)


def read_journal(lock_path: Path) -> JournalFile | None:
    """The journal beside the lockfile, up to its first torn or unchecked line; None when there is none
    (or its header never reached the disk). Raises LockfileError naming the file and line."""
    path = journal_path_for(lock_path)
    data = read_state_file(path, "journal")
    if data is None:
        return None
    lines = data.split(b"\n")[:-1]  # what follows the last newline was never acknowledged
    found: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        payload = _decode(line)
        if payload is None:
            # A crash tears only the tail: past a torn line nothing checks out. A checked line after it
            # means the file was edited or damaged, and dropping acknowledged steps would lose them.
            if any(_decode(later) is not None for later in lines[number:]):
                raise LockfileError(
                    f"{path}:{number}: the journal is corrupt: this line fails its check and checked lines "
                    "follow it (edited by hand?)"
                )
            break
        try:
            event = load_json_strictly(payload.decode("utf-8"))
            if not isinstance(event, dict) or not isinstance(event.get("event"), str):
                raise ValueError("not an event")
        except ValueError as exc:  # also UnicodeDecodeError and JSONDecodeError
            raise LockfileError(f"{path}:{number}: the journal is corrupt: {exc}") from None
        found.append((number, event))
    if not found:
        return None
    number, first = found[0]
    if first["event"] != "header" or first.get("version") != VERSION:
        raise LockfileError(f"{path}:{number}: the journal is corrupt: it does not start with its header")
    try:
        head = {k: first[k] for k in ("owner", "lineage", "serial")}
        if not (isinstance(head["owner"], str) and isinstance(head["lineage"], str) and type(head["serial"]) is int):
            raise TypeError("a field has the wrong type")
    except (KeyError, TypeError) as exc:
        raise LockfileError(f"{path}:{number}: the journal is corrupt: header: {exc}") from None
    return JournalFile(path, head, found[1:])


def fold(journal: JournalFile, base: Lock | None) -> Lock | None:
    """`base` (None: no lockfile) with the journal's events applied; None when that records nothing.
    The journal must apply to `base`. Raises LockfileError naming the line of a malformed event."""
    start = base or Lock(journal.header["owner"], journal.header["lineage"], 0)
    records = Records(start)
    for number, event in journal.events:
        try:
            records.replay(event)
        except KeyError as exc:
            raise LockfileError(f"{journal.path}:{number}: the journal is corrupt: missing {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise LockfileError(f"{journal.path}:{number}: the journal is corrupt: {exc}") from None
    folded = records.lock(start)
    if base is None and folded.serial == 0:
        return None  # nothing was ever recorded: as if no apply had run
    problem = first_error("lockfile", json.loads(folded.to_json()))
    if problem:
        raise LockfileError(f"{journal.path}: the journal is corrupt: it makes the lockfile invalid: {problem}")
    return folded


class Journal:
    """The journal being written: lines are queued in the order of their steps, and written in groups."""

    def __init__(self, path: Path, base: Lock) -> None:
        self.path = path
        self.io = threading.Lock()  # held while the file is written, synced or removed
        self._header = encode(header(base))
        self._fd: int | None = None
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[bytes] = []
        self._queued = 0  # tickets handed out
        self._durable = 0  # every ticket up to this one is on disk
        self._flushing = False
        self._error: str | None = None

    def add(self, line: bytes) -> int:
        """Queue a line; the ticket to wait for. Lines reach the disk in the order they were added."""
        with self._cond:
            self._queue.append(line)
            self._queued += 1
            return self._queued

    def wait(self, ticket: int) -> None:
        """Return once the line of `ticket`, and every line before it, is on disk. Raises LockfileError."""
        with self._cond:
            while self._durable < ticket:
                if self._error is not None:
                    raise LockfileError(self._error)
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flushing = True
                self._cond.release()
                try:
                    self._flush()
                finally:
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()

    def _flush(self) -> None:
        with self.io:
            with self._cond:
                batch, upto = self._queue, self._queued
                self._queue = []
            try:
                if batch:
                    self._write(b"".join(batch))
            except OSError as exc:
                with self._cond:  # a line may be torn now: nothing more may follow it
                    self._error = f"{self.path}: cannot write the journal: {exc.strerror or exc}"
                return
            with self._cond:
                self._durable = max(self._durable, upto)

    def _write(self, data: bytes) -> None:
        created = self._fd is None
        if self._fd is None:
            # Truncated, not appended to: a journal left beside the lockfile was folded in before this run wrote.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(self.path, flags, 0o666)
            data = self._header + data
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        _fdatasync(self._fd)
        if created:
            _sync_folder(self.path.parent)  # the new file's name must survive a crash too

    def covered(self, base: Lock) -> None:
        """Everything queued is now in the lockfile (`base`): release the waiters, remove the file, and
        start any later lines on top of `base`. Call holding `io`. Raises LockfileError."""
        with self._cond:
            self._queue = []
            self._durable = self._queued
            self._error = None
            self._cond.notify_all()
        self._header = encode(header(base))
        try:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise LockfileError(f"{self.path}: cannot remove the journal: {exc.strerror or exc}") from None


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lock(path: Path, owner: str) -> Lock | None:
    """What the last apply made true: the lockfile at `path` with the journal beside it folded in (nothing
    is written); None if neither records anything. Another owner's lockfile is an error."""
    lock = read_lock_file(path)
    where: Path = path
    journal = read_journal(path)
    if journal is not None and journal.applies_to(lock):
        where = path if lock is not None else journal.path
        lock = fold(journal, lock)
    if lock is not None and lock.owner != owner:
        raise LockfileError(
            f"{where}: the lockfile belongs to owner {lock.owner!r}, but the manifest's owner is {owner!r}; "
            "use the lockfile of this manifest, or delete it to rebuild it from the remote stamps"
        )
    return lock
