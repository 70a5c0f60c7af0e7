"""Values shared by every stage: entities, the ownership stamps, and the desired state.

The stamps are metadata keys in a reserved namespace that the tool writes on every import it creates:
they make the remote the source of truth for ownership, so a lost lockfile can be rebuilt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STAMP_PREFIX = "websets-reconciler/"
STAMP_OWNER = STAMP_PREFIX + "owner"
STAMP_KEY = STAMP_PREFIX + "key"
STAMP_SHA256 = STAMP_PREFIX + "sha256"
STAMP_IDENTIFIER = STAMP_PREFIX + "identifier"
STAMP_OPERATION = STAMP_PREFIX + "operation"
# A state lock claim (reconciler.apply.servicelock) carries the lock id and its holder in these two.
STAMP_LOCK = STAMP_PREFIX + "lock"
STAMP_LOCK_HOLDER = STAMP_PREFIX + "lock-holder"


# What the manifest schema allows as an import key or an owner.
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def is_key(text: str) -> bool:
    """Whether `text` is a manifest key (or owner): 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9."""
    return KEY_PATTERN.fullmatch(text) is not None


def is_reserved(metadata_key: str) -> bool:
    """Whether a metadata key belongs to the tool's stamp namespace."""
    return metadata_key.lower().startswith(STAMP_PREFIX)


def user_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata without the tool's stamps."""
    return {k: v for k, v in metadata.items() if not is_reserved(k)}


@dataclass(frozen=True, slots=True)
class Entity:
    """What an import's records are: company, person, article, research_paper, or custom."""

    type: str
    description: str | None = None

    @classmethod
    def from_api(cls, value: dict[str, Any] | None) -> Entity | None:
        if not value:
            return None
        return cls(value["type"], value.get("description"))

    def to_api(self) -> dict[str, str]:
        return {"type": self.type} if self.description is None else {"type": self.type, "description": self.description}

    def __str__(self) -> str:
        return self.type if self.description is None else f"custom ({self.description})"


@dataclass(frozen=True, slots=True)
class Safety:
    """The manifest's safety settings, octoDNS-style."""

    prune: bool = False
    max_delete_percent: float = 30.0
    max_replace_percent: float = 50.0
    min_managed_for_percent: int = 10


LOCK_BACKENDS = ("service", "file")
DEFAULT_LEASE = 300.0


@dataclass(frozen=True, slots=True)
class LockSettings:
    """The manifest's `lock:` section: where the state lock lives, and how long a claim outlives its holder."""

    backend: str = "service"  # service: one lock per owner for every machine; file: this checkout only
    lease: float = DEFAULT_LEASE  # seconds a crashed holder's claim blocks others


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A CSV the manifest names, and what one pass over it found."""

    path: str  # as written in the manifest, relative to its folder
    display: str  # as shown in messages: the manifest's folder joined with `path`
    absolute: str  # resolved, inside the manifest's folder
    identifier: int  # 0-based column index
    identifier_name: str
    sha256: str
    size: int
    records: int
    columns: int


@dataclass(frozen=True, slots=True)
class DesiredImport:
    """One import as the manifest wants it."""

    key: str
    title: str
    entity: Entity
    metadata: dict[str, str]  # the user's metadata (defaults merged), never stamps
    protected: bool
    csv: CsvFile | None  # None: the content is unmanaged (an adopted import whose CSV the team does not have)
    line: int  # where the key stands in the manifest

    @property
    def sha256(self) -> str | None:
        return self.csv.sha256 if self.csv is not None else None

    @property
    def identifier(self) -> int | None:
        return self.csv.identifier if self.csv is not None else None


@dataclass(frozen=True, slots=True)
class Adoption:
    """`adopt: [{key, id}]`: take over the existing import `id` under `key` (a no-op once it is managed)."""

    key: str
    id: str
    line: int


@dataclass(frozen=True, slots=True)
class Move:
    """`moved: [{from, to}]`, chains resolved: the import managed as `old` is now the manifest's `new`."""

    old: str
    new: str  # the last key of the chain: a key of `imports`
    line: int


@dataclass(frozen=True, slots=True)
class Removal:
    """`removed: [{key}]`: stop managing the key's import (its stamps are removed), keep the import."""

    key: str
    line: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """The desired state: owner, safety, and the imports by key."""

    path: str
    owner: str
    safety: Safety
    imports: dict[str, DesiredImport] = field(default_factory=dict)
    max_rps: float | None = None  # api.max_rps: the request budget, unless the command line sets one
    adopt: dict[str, Adoption] = field(default_factory=dict)  # by key
    moved: dict[str, Move] = field(default_factory=dict)  # by old key: every key of a chain maps to its end
    removed: dict[str, Removal] = field(default_factory=dict)  # by key
    lock: LockSettings = field(default_factory=LockSettings)
