"""websets.lock: the record of what the tool manages, read strictly and written atomically.

The lockfile is a record, not the only truth: the remote's ownership stamps can rebuild it. It holds
no timestamps and is written with sorted keys, so a change to it reads as a small PR diff. While an
apply runs, its steps go to the journal beside it (reconciler.apply.journal), whose read_lock folds it in.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import LockfileError
from reconciler.files import RefusedFile, load_json_strictly, read_regular, write_atomically
from reconciler.manifest.schema import first_error
from reconciler.model import DesiredImport, Entity

LOCK_NAME = "websets.lock"
MAX_LOCK_BYTES = 256_000_000  # ten thousand imports take about 5 MB
_CONFLICT_MARKER = re.compile(r"^(?:<{7}|>{7}|\|{7})(?: |$)|^={7}\r?$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class LockEntry:
    """What the tool last made true for one key."""

    id: str
    title: str
    entity: Entity
    metadata: dict[str, str]
    protected: bool
    # Of the CSV; all but `records` are None for an import whose content is unmanaged (no csv in the manifest).
    path: str | None
    sha256: str | None
    size: int | None
    records: int
    columns: int | None
    identifier: int | None

    @classmethod
    def of(cls, desired: DesiredImport, import_id: str, records: int = 0) -> LockEntry:
        """The entry recording that `import_id` now holds `desired`; `records` is the remote's count, used
        only when the content is unmanaged (the manifest names no CSV)."""
        csv = desired.csv
        content = (
            (None, None, None, records, None, None)
            if csv is None
            else (csv.path, csv.sha256, csv.size, csv.records, csv.columns, csv.identifier)
        )
        return cls(import_id, desired.title, desired.entity, dict(desired.metadata), desired.protected, *content)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "entity": self.entity.to_api(),
            "metadata": dict(self.metadata),
            "protected": self.protected,
            "csv": {
                "path": self.path,
                "sha256": self.sha256,
                "size": self.size,
                "records": self.records,
                "columns": self.columns,
                "identifier": self.identifier,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockEntry:
        csv = data["csv"]
        return cls(
            data["id"],
            data["title"],
            Entity(data["entity"]["type"], data["entity"].get("description")),
            dict(data["metadata"]),
            data["protected"],
            csv["path"],
            csv["sha256"],
            csv["size"],
            csv["records"],
            csv["columns"],
            csv["identifier"],
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """A create in flight: its stamp, key, and (for a replace) the import it will supersede."""

    operation: str
    key: str
    action: str
    replaces: str | None
    sha256: str
    abandoned: bool = False  # given up on: whatever import carries the stamp is deleted, never used

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "key": self.key,
            "action": self.action,
            "replaces": self.replaces,
            "sha256": self.sha256,
            "abandoned": self.abandoned,
        }


@dataclass(frozen=True, slots=True)
class Lock:
    """The whole lockfile."""

    owner: str
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    imports: dict[str, LockEntry] = field(default_factory=dict)
    journal: tuple[Operation, ...] = ()

    def to_json(self) -> str:
        document = {
            "version": 1,
            "owner": self.owner,
            "lineage": self.lineage,
            "serial": self.serial,
            "imports": {key: entry.to_json() for key, entry in sorted(self.imports.items())},
            "journal": [op.to_json() for op in sorted(self.journal, key=lambda o: (o.key, o.operation))],
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def lock_path_for(manifest_path: str | os.PathLike[str]) -> Path:
    """The lockfile beside the manifest."""
    return Path(manifest_path).parent / LOCK_NAME


def parse_lock(text: str, where: str) -> Lock:
    """Parse and check lockfile text; raise LockfileError naming the place of the problem."""
    try:
        data = load_json_strictly(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        conflict = _CONFLICT_MARKER.search(text)
        if conflict:
            line = text.count("\n", 0, conflict.start()) + 1
            raise LockfileError(
                f"{where}:{line}: resolve the merge conflict in {Path(where).name} (or delete the file: plan and "
                "apply rebuild it from the remote stamps)"
            ) from None
        raise LockfileError(f"{where}:{exc.lineno}:{exc.colno}: the lockfile is corrupt: {exc.msg}") from None
    except ValueError as exc:
        raise LockfileError(f"{where}: the lockfile is corrupt: {exc}") from None
    problem = first_error("lockfile", data)
    if problem:
        raise LockfileError(f"{where}: the lockfile is corrupt: {problem}")
    return Lock(
        owner=data["owner"],
        lineage=data["lineage"],
        serial=data["serial"],
        imports={key: LockEntry.from_json(entry) for key, entry in data["imports"].items()},
        journal=tuple(Operation(**op) for op in data["journal"]),
    )


def read_state_file(path: Path, what: str) -> bytes | None:
    """The bytes of the lockfile or its journal (`what` names it in errors), None if there is none;
    LockfileError, naming the file, when it cannot be read or is not a regular file."""
    try:
        return read_regular(path, MAX_LOCK_BYTES)
    except FileNotFoundError:
        return None
    except RefusedFile as exc:
        raise LockfileError(f"{path}: {exc}") from None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None


def read_lock_file(path: Path) -> Lock | None:
    """The lockfile at `path` alone (no journal), None if there is none."""
    data = read_state_file(path, "lockfile")
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LockfileError(f"{path}:{line}: the lockfile is not valid UTF-8") from None
    return parse_lock(text, str(path))


def write_lock(path: Path, lock: Lock) -> None:
    """Write atomically: a reader sees the old lockfile or the new one, never a part."""
    try:
        write_atomically(path, lock.to_json())
    except OSError as exc:
        raise LockfileError(f"{path}: cannot write the lockfile: {exc.strerror}") from None
