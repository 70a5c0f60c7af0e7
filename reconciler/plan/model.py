"""The plan's types: data only. The diff lives in planner.py and change.py; renderers and the planfile read these.

A Change's sides, by action:
    create   before is None          after is the desired import
    update   before is the remote    after is the desired import (same id)
    replace  before is the remote    after is the desired import (a new id once applied)
    delete   before is the remote    after is None
    adopt    before is the remote    after is the desired import (same id; an import not yet managed)
    move     before is the remote    after is the desired import under its new key (same id)
    forget   before is the remote    after is None (the import is kept; the tool's stamps are removed)
    refresh  before is the lockfile  after is the remote (None: deleted remotely); only --refresh-only
    noop     before == after in every field the tool manages
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
from typing import Any


class Action(str, Enum):
    """What apply will do for one key."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    ADOPT = "adopt"
    MOVE = "move"
    FORGET = "forget"
    REFRESH = "refresh"
    NOOP = "noop"

    @property
    def destructive(self) -> bool:
        """The import's id stops serving: it is replaced or deleted."""
        return self in (Action.REPLACE, Action.DELETE)

    @property
    def guarded(self) -> bool:
        """Refused for a protected import without --force: the destructive actions, and forget."""
        return self in (Action.REPLACE, Action.DELETE, Action.FORGET)

    @property
    def breaks_references(self) -> bool:
        """Websets that use the import are affected: its id goes away, or the tool stops managing it."""
        return self in (Action.REPLACE, Action.DELETE, Action.FORGET)


class Reason(str, Enum):
    """Why a change has its action; a closed set."""

    NEW_KEY = "new_key"  # create: nothing exists for the key
    REMOTE_MISSING = "remote_missing"  # create: the lockfile's import is gone from the remote
    ATTRIBUTES_CHANGED = "attributes_changed"  # update: title, metadata or stamps differ
    CSV_CHANGED = "csv_changed"  # replace: the file's sha256 differs
    ENTITY_CHANGED = "entity_changed"  # replace
    IDENTIFIER_CHANGED = "identifier_changed"  # replace
    REMOTE_FAILED = "remote_failed"  # replace: processing failed
    REMOTE_CANCELED = "remote_canceled"  # replace
    UPLOAD_EXPIRED = "upload_expired"  # replace: still pending after its upload window
    UPLOAD_MISSING = "upload_missing"  # replace: pending, and no record that its upload was accepted
    KEY_REMOVED = "key_removed"  # delete: the key left the manifest and pruning is on
    REPLACE_REQUESTED = "replace_requested"  # replace: --replace KEY
    ADOPT_REQUESTED = "adopt_requested"  # adopt: the manifest's adopt block names the import
    KEY_MOVED = "key_moved"  # move: the manifest's moved block renames the key
    KEY_FORGOTTEN = "key_forgotten"  # forget: the manifest's removed block names the key
    REMOTE_EDITED = "remote_edited"  # refresh: the remote differs from the lockfile
    REMOTE_DELETED = "remote_deleted"  # refresh: the lockfile's import is gone
    REMOTE_DISOWNED = "remote_disowned"  # refresh: the lockfile's import is no longer stamped with this owner
    IN_SYNC = "in_sync"  # noop

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.NEW_KEY: "new key in the manifest",
    Reason.REMOTE_MISSING: "the import recorded in the lockfile no longer exists",
    Reason.ATTRIBUTES_CHANGED: "title or metadata differ",
    Reason.CSV_CHANGED: "the CSV content changed (imports cannot be re-uploaded)",
    Reason.ENTITY_CHANGED: "the entity changed (it cannot be updated in place)",
    Reason.IDENTIFIER_CHANGED: "the identifier column changed (it cannot be updated in place)",
    Reason.REMOTE_FAILED: "the remote import failed processing",
    Reason.REMOTE_CANCELED: "the remote import was canceled",
    Reason.UPLOAD_EXPIRED: "the remote import never received its upload and its upload window has passed",
    Reason.UPLOAD_MISSING: "the remote import is pending and this tool has no record that its upload was accepted",
    Reason.KEY_REMOVED: "the key was removed from the manifest",
    Reason.REPLACE_REQUESTED: "a replace was requested with --replace",
    Reason.ADOPT_REQUESTED: "the manifest's adopt block takes over this existing import",
    Reason.KEY_MOVED: "the manifest's moved block renames the key; the import keeps its id",
    Reason.KEY_FORGOTTEN: "the manifest's removed block stops managing it; the import is kept",
    Reason.REMOTE_EDITED: "changed outside the tool since the lockfile was written",
    Reason.REMOTE_DELETED: "deleted outside the tool since the lockfile was written",
    Reason.REMOTE_DISOWNED: "no longer stamped with this owner (changed outside the tool)",
    Reason.IN_SYNC: "in sync",
}


class Origin(str, Enum):
    """Where a difference came from, with the lockfile as the common base."""

    MANIFEST = "manifest"  # the manifest (or a CSV) changed
    REMOTE = "remote"  # the remote changed outside the tool, e.g. in the Exa dashboard
    BOTH = "both"  # both changed the same field: a conflict; the manifest wins
    UNKNOWN = "unknown"  # no lockfile entry to compare with


@dataclass(frozen=True, slots=True)
class Change:
    """One key's change. `changed_fields` are dotted paths, for display only."""

    key: str
    action: Action
    reason: Reason
    id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed_fields: tuple[str, ...] = ()
    origin: Origin | None = None
    protected: bool = False
    moved_from: str | None = None  # move (or a replace that also moves): the key the import was managed as
    adopting: bool = False  # a replace of an import not yet managed: apply adopts it first, then replaces it


@dataclass(frozen=True, slots=True)
class Orphan:
    """A managed import whose key left the manifest while pruning is off."""

    key: str
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Stray:
    """Another import of ours that claims a key the plan serves with another: apply deletes it once the
    plan is confirmed (a settled duplicate, or one whose upload window has passed)."""

    key: str
    id: str
    why: str


@dataclass(frozen=True, slots=True)
class Basis:
    """What a plan was built on, so a saved plan can tell when it has gone stale."""

    lock_lineage: str | None
    lock_serial: int | None
    remote: dict[str, str]  # id -> updatedAt of every managed import the plan looked at
    csv: dict[str, str]  # key -> sha256 of the desired CSV


def get_path(side: dict[str, Any] | None, path: str) -> Any:
    """The value at a dotted path (`csv.sha256`) of a change's side, or None."""
    value: Any = side
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True, slots=True)
class Reference:
    """A webset that uses an import: as a source, a search scope or an exclusion."""

    import_id: str
    webset_id: str
    title: str | None
    how: str  # "source", "exclusion", "search scope", "search exclusion"


@dataclass(frozen=True, slots=True)
class Selection:
    """`--target` and `--exclude`: keys or globs (`prospects-*`). No targets: every key."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @classmethod
    def of(cls, targets: Any) -> Selection | None:
        """A Selection from what callers pass: None, a Selection, or a collection of target keys."""
        if targets is None or isinstance(targets, Selection):
            return targets
        return cls(tuple(sorted(targets)))

    def selects(self, key: str, other: str | None = None) -> bool:
        """Whether a change of `key` (and, for a move, of `other`, the key it moves from) is selected: a
        target matches either key, and an exclude of either key leaves it out."""
        keys = (key,) if other is None else (key, other)
        if any(fnmatchcase(k, p) for k in keys for p in self.excludes):
            return False
        return not self.targets or any(fnmatchcase(k, p) for k in keys for p in self.targets)

    def unmatched(self, keys: set[str]) -> list[str]:
        """The patterns (targets and excludes) that match none of `keys`."""
        return [p for p in (*self.targets, *self.excludes) if not any(fnmatchcase(k, p) for k in keys)]


_ORDER = {
    Action.DELETE: 0,
    Action.FORGET: 1,
    Action.REPLACE: 2,
    Action.CREATE: 3,
    Action.ADOPT: 4,
    Action.MOVE: 5,
    Action.UPDATE: 6,
    Action.REFRESH: 7,
    Action.NOOP: 8,
}
SUMMARY_ACTIONS = (
    Action.CREATE,
    Action.UPDATE,
    Action.REPLACE,
    Action.DELETE,
    Action.ADOPT,
    Action.MOVE,
    Action.FORGET,
    Action.REFRESH,
    Action.NOOP,
)


@dataclass(frozen=True, slots=True)
class Plan:
    """A frozen plan: changes sorted destructive-first then by key, plus what the plan did not touch."""

    owner: str
    changes: tuple[Change, ...]
    managed: int
    unmanaged: int
    orphans: tuple[Orphan, ...] = ()
    warnings: tuple[str, ...] = ()
    unsafe: tuple[str, ...] = ()
    adopted: tuple[str, ...] = ()  # keys the lockfile did not record, found by their remote stamps
    strays: tuple[Stray, ...] = ()  # shown among the warnings; deleted by apply after confirmation
    basis: Basis = field(default_factory=lambda: Basis(None, None, {}, {}))
    references: tuple[Reference, ...] = ()  # websets using an import that a change replaces, deletes or forgets
    references_unknown: str | None = None  # why the websets could not be read (None: read, or not needed)
    refresh_only: bool = False  # a --refresh-only plan: it changes only the lockfile

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.changes, key=lambda c: (_ORDER[c.action], c.key)))
        object.__setattr__(self, "changes", ordered)

    @property
    def safe(self) -> bool:
        return not self.unsafe

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def summary(self) -> dict[str, int]:
        return {a.value: self.count(a) for a in SUMMARY_ACTIONS}

    @property
    def has_changes(self) -> bool:
        """Whether apply would change anything: a change, or a stray import to delete."""
        return bool(self.strays) or any(c.action is not Action.NOOP for c in self.changes)

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    def references_to(self, import_id: str | None) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.import_id == import_id)
