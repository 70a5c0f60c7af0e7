"""One key's change: the two sides (snapshots) of a change, and how the remote import that stands for a
key of the manifest compares with it: in sync, updated in place, or replaced, and where a difference came from.

`Precomputed` works these out while the listing is still arriving, so that a plan of thousands of imports is
mostly looked up once the last page is in. Pure, like the planner: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.errors import ConfigError
from reconciler.lockfile import Lock, LockEntry
from reconciler.model import (
    STAMP_IDENTIFIER,
    STAMP_KEY,
    STAMP_OWNER,
    STAMP_SHA256,
    DesiredImport,
    Entity,
    Manifest,
)
from reconciler.plan.model import Action, Change, Origin, Reason, get_path
from reconciler.remote.state import RemoteImport


def stamps(owner: str, desired: DesiredImport) -> dict[str, str]:
    """The ownership stamps an import of `desired` carries (the operation stamp is added by apply). An
    import whose content is unmanaged carries the owner and key only: what it holds is not the tool's."""
    if desired.csv is None:
        return {STAMP_OWNER: owner, STAMP_KEY: desired.key}
    return {
        STAMP_OWNER: owner,
        STAMP_KEY: desired.key,
        STAMP_SHA256: desired.csv.sha256,
        STAMP_IDENTIFIER: str(desired.csv.identifier),
    }


def carries_stamps(metadata: dict[str, str], owner: str, desired: DesiredImport) -> bool:
    """Whether `metadata` holds every one of `stamps(owner, desired)`; asked of every import in a plan,
    so the stamps are compared one by one rather than built."""
    if metadata.get(STAMP_KEY) != desired.key or metadata.get(STAMP_OWNER) != owner:
        return False
    csv = desired.csv
    return csv is None or (
        metadata.get(STAMP_SHA256) == csv.sha256 and metadata.get(STAMP_IDENTIFIER) == str(csv.identifier)
    )


def desired_snapshot(d: DesiredImport) -> dict[str, Any]:
    """The desired side of a change: what the manifest asks for the key (`csv` is None: content unmanaged)."""
    csv = d.csv
    if csv is None:
        return {
            "title": d.title,
            "entity": d.entity.to_api(),
            "metadata": dict(d.metadata),
            "protected": d.protected,
            "csv": None,
        }
    return {
        "title": d.title,
        "entity": d.entity.to_api(),
        "metadata": dict(d.metadata),
        "protected": d.protected,
        "csv": {
            "path": csv.path,
            "sha256": csv.sha256,
            "size": csv.size,
            "records": csv.records,
            "columns": csv.columns,
            "identifier": csv.identifier,
            "identifier_name": csv.identifier_name,
        },
    }


def desired_from_after(desired: DesiredImport, after: dict[str, Any] | None) -> DesiredImport:
    """`desired` carrying the values of a change's `after` side: what apply sends is what the plan showed,
    even when the plan was saved and the manifest has moved since (where the file is stays the manifest's)."""
    if after is None:
        return desired
    csv = after["csv"]
    attributes = replace(
        desired,
        title=after["title"],
        entity=Entity.from_api(after["entity"]) or desired.entity,
        metadata=dict(after["metadata"]),
        protected=after["protected"],
    )
    if csv is None or desired.csv is None:
        return attributes
    return replace(
        attributes,
        csv=replace(
            desired.csv,
            sha256=csv["sha256"],
            size=csv["size"],
            records=csv["records"],
            columns=csv["columns"],
            identifier=csv["identifier"],
            identifier_name=csv["identifier_name"],
        ),
    )


def remote_snapshot(r: RemoteImport, base: LockEntry | None) -> dict[str, Any]:
    """The remote side of a change: the import as listed, with what the lockfile knows of its CSV."""
    return _remote_snapshot(r, base, r.sha256, r.identifier)


def _remote_snapshot(r: RemoteImport, base: LockEntry | None, sha: str | None, ident: int | None) -> dict[str, Any]:
    if base is not None and base.sha256 == sha:
        csv = {
            "sha256": sha,
            "records": int(r.count),
            "identifier": ident,
            "path": base.path,
            "size": base.size,
            "columns": base.columns,
        }
    else:
        csv = {"sha256": sha, "records": int(r.count), "identifier": ident}
    snapshot = {
        "id": r.id,
        "status": r.status,
        "title": r.title,
        "entity": r.entity.to_api() if r.entity else None,
        "metadata": r.user_metadata,
        "csv": csv,
    }
    if r.failed_reason:
        snapshot["failed"] = {"reason": r.failed_reason, "message": r.failed_message}
    return snapshot


def field_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The dotted paths at which two snapshots differ, sorted."""
    if before == after:  # the common case, and DeepDiff is costly per call
        return []
    # Imported here: it takes longer to import than a plan of thousands of imports in sync takes to build.
    from deepdiff import DeepDiff

    diff = DeepDiff(before, after, view="tree")
    paths = {".".join(str(p) for p in level.path(output_format="list")) for levels in diff.values() for level in levels}
    return sorted(paths)


def _origin(
    paths: Iterable[str], desired: dict[str, Any], remote: dict[str, Any], base: dict[str, Any] | None
) -> Origin:
    if base is None:
        return Origin.UNKNOWN
    origins = set()
    for path in paths:
        d, r, b = (get_path(x, path) for x in (desired, remote, base))
        manifest_moved, remote_moved = d != b, r != b
        if manifest_moved and remote_moved:
            origins.add(Origin.BOTH)
        elif remote_moved:
            origins.add(Origin.REMOTE)
        else:
            origins.add(Origin.MANIFEST)
    if Origin.BOTH in origins:
        return Origin.BOTH
    return Origin.REMOTE if origins == {Origin.REMOTE} else Origin.MANIFEST


def _comparable(title: str, entity: Any, metadata: dict[str, str], sha: str | None, ident: int | None) -> dict:
    return {"title": title, "entity": entity, "metadata": metadata, "csv": {"sha256": sha, "identifier": ident}}


def _recorded(
    r: RemoteImport, base: LockEntry | None, sha: str | None, ident: int | None
) -> tuple[str | None, int | None]:
    """The remote's CSV sha256 and identifier: from its stamps (`sha`, `ident`), or, where they were
    edited away, from the lockfile's record of that same import."""
    if (sha is None or ident is None) and base is not None and base.id == r.id:
        return (base.sha256 if sha is None else sha), (base.identifier if ident is None else ident)
    return sha, ident


def _replace_reason(
    r: RemoteImport, sha: str | None, ident: int | None, d: DesiredImport, uploaded: bool, now: float
) -> Reason | None:
    status = r.status
    if status == "failed":
        return Reason.REMOTE_FAILED
    if status == "canceled":
        return Reason.REMOTE_CANCELED
    assert d.csv is not None
    if status == "pending":  # only a pending import's upload can have expired
        if r.upload_expired(now):
            return Reason.UPLOAD_EXPIRED
        if not uploaded:
            return Reason.UPLOAD_MISSING
    if sha != d.csv.sha256:
        return Reason.CSV_CHANGED
    if r.entity != d.entity:
        return Reason.ENTITY_CHANGED
    if ident != d.csv.identifier:
        return Reason.IDENTIFIER_CHANGED
    return None


_REMOTE_STATUS_REASONS = (Reason.REMOTE_FAILED, Reason.REMOTE_CANCELED, Reason.UPLOAD_EXPIRED, Reason.UPLOAD_MISSING)


def _unmanaged_content(r: RemoteImport | None, d: DesiredImport) -> None:
    """Refuse what only a new import could give a key whose content is unmanaged (no csv to make one from)."""
    if r is None:
        raise ConfigError(
            f"{d.key}: no import stands for this key, and without csv none can be created; "
            "give csv, or adopt an existing import"
        )
    if r.status in ("failed", "canceled"):
        raise ConfigError(f"{d.key}: import {r.id} is {r.status}, and without csv it cannot be replaced; give csv")
    if r.entity != d.entity:
        raise ConfigError(
            f"{d.key}: entity: the remote import {r.id} is {r.entity}, the manifest says {d.entity}; an entity "
            "cannot be changed in place, and without csv the import cannot be replaced"
        )


def change_for(owner: str, d: DesiredImport, r: RemoteImport | None, base: LockEntry | None, now: float) -> Change:
    """The change for one key of the manifest: `d`, the import `r` that stands for it (None: none does),
    and `base`, its lockfile entry. `now` matters only when `r` is pending (its upload window). Raises
    ConfigError for a key whose content is unmanaged and that would need a new import."""
    after = desired_snapshot(d)
    if d.csv is None:
        _unmanaged_content(r, d)
    if r is None:
        reason = Reason.REMOTE_MISSING if base is not None else Reason.NEW_KEY
        origin = Origin.REMOTE if base is not None else Origin.MANIFEST
        return Change(d.key, Action.CREATE, reason, None, None, after, (), origin, d.protected)
    assert r is not None  # for the type checker: `_unmanaged_content` refused it
    stamped_sha, stamped_ident = r.sha256, r.identifier
    before = _remote_snapshot(r, base, stamped_sha, stamped_ident)
    sha, ident = _recorded(r, base, stamped_sha, stamped_ident)
    if d.csv is None:  # only title, metadata and the stamps can differ: the CSV is not the manifest's
        sha, ident, reason = d.sha256, d.identifier, None
    else:
        reason = _replace_reason(r, sha, ident, d, base is not None and base.id == r.id, now)
    stamps_ok = carries_stamps(r.metadata, owner, d)
    # Nearly every import is in sync. With no reason to replace, `have` and `want` below hold the same
    # entity, sha256 and identifier, so they are equal when title and metadata are: no need to build them.
    if reason is None and stamps_ok and r.title == d.title and before["metadata"] == after["metadata"]:
        return Change(d.key, Action.NOOP, Reason.IN_SYNC, r.id, before, after, (), None, d.protected)
    # The snapshots' values are shared, not copied: `want` and `have` are only read.
    want = _comparable(d.title, after["entity"], after["metadata"], d.sha256, d.identifier)
    have = _comparable(r.title, before["entity"], before["metadata"], sha, ident)
    fields = field_paths(have, want)
    if reason in _REMOTE_STATUS_REASONS:
        return Change(
            d.key, Action.REPLACE, reason, r.id, before, after, ("status", *fields), Origin.REMOTE, d.protected
        )
    if reason is not None:
        origin = _origin(fields, want, have, _base_side(base))
        return Change(d.key, Action.REPLACE, reason, r.id, before, after, tuple(fields), origin, d.protected)
    if fields or not stamps_ok:
        shown = tuple(fields) if fields else ("metadata.stamps",)
        origin = _origin(fields, want, have, _base_side(base)) if fields else Origin.REMOTE
        return Change(d.key, Action.UPDATE, Reason.ATTRIBUTES_CHANGED, r.id, before, after, shown, origin, d.protected)
    return Change(d.key, Action.NOOP, Reason.IN_SYNC, r.id, before, after, (), None, d.protected)


def _base_side(base: LockEntry | None) -> dict[str, Any] | None:
    """What the lockfile says was applied, in the shape `_comparable` gives; None without an entry."""
    if base is None:
        return None
    return _comparable(base.title, base.entity.to_api(), dict(base.metadata), base.sha256, base.identifier)


class Precomputed:
    """Changes worked out while the listing is still arriving, for `build_plan` to look up: planning ten
    thousand imports after the last page would otherwise add a tenth of a second to every plan.

    Each is the `change_for` of an import as the one standing for its key, kept with that very import
    object: `build_plan` uses it only when it chooses that object for the key, with the same manifest and
    lockfile. Pending imports are left to `build_plan`: only their change depends on the time."""

    def __init__(self, manifest: Manifest, lock: Lock | None) -> None:
        self.manifest = manifest
        self.lock = lock
        self._entries = lock.imports if lock else {}
        self._recorded = {entry.id: key for key, entry in self._entries.items()}
        self._changes: dict[str, tuple[RemoteImport, Change]] = {}

    def add(self, remote: Iterable[RemoteImport]) -> None:
        """Work out the change each of these imports makes if it is the one that stands for its key."""
        owner, imports = self.manifest.owner, self.manifest.imports
        for r in remote:
            if r.owner != owner or r.status == "pending":
                continue
            key = r.key or self._recorded.get(r.id)  # as build_plan reads the claims
            d = imports.get(key) if key else None
            if d is not None and d.csv is not None:  # a refusal of a csv-less key is build_plan's to raise
                # `now` is read only for a pending import, and this one is not.
                self._changes[d.key] = (r, change_for(owner, d, r, self._entries.get(d.key), now=0.0))

    def changes(self, manifest: Manifest, lock: Lock | None) -> Mapping[str, tuple[RemoteImport, Change]]:
        """By key, the import each change was worked out for and the change, if this manifest and lockfile
        are the ones they were worked out with (none otherwise)."""
        return self._changes if manifest is self.manifest and lock is self.lock else {}
