"""The steps of an apply that PATCH an import in place: update, adopt, move, forget. Each accepts the
answer only if it holds what was sent, then records the outcome in the lockfile.

Whether the service replaces an import's stored metadata or merges into it is not documented, so every
step reads the PATCH's answer to tell, and where it cannot converge its failure says so plainly.
"""

from __future__ import annotations

from typing import Any, Protocol

from reconciler.apply.book import LockBook
from reconciler.errors import ActionError
from reconciler.lockfile import LockEntry
from reconciler.model import STAMP_KEY, STAMP_OWNER, DesiredImport, Entity, is_reserved
from reconciler.plan.change import stamps
from reconciler.remote.client import ApiClient


class Progress(Protocol):
    def __call__(self, key: str, message: str) -> None: ...


class StepFailed(Exception):
    """A step failed with an error to report for its key."""

    def __init__(self, error: ActionError) -> None:
        super().__init__(str(error))
        self.error = error


def listed_records(side: dict[str, Any] | None) -> int:
    """The record count a change's remote side lists (0 when it has none)."""
    csv = (side or {}).get("csv") or {}
    records = csv.get("records")
    return records if isinstance(records, int) else 0


class Patcher:
    """PATCHes imports for an apply, recording each outcome in `book`."""

    def __init__(self, client: ApiClient, owner: str, book: LockBook, progress: Progress) -> None:
        self.client, self.owner, self.book, self.progress = client, owner, book, progress

    def update(self, d: DesiredImport, import_id: str, records: int = 0, *, moved_from: str | None = None) -> None:
        """PATCH the title and the whole metadata, and accept the answer only if it holds what was sent;
        then record it (under its new key, for a move). `records` is the import's count as listed, which the
        entry of an import whose content is unmanaged records.

        Whether the service replaces the stored metadata or merges into it is not documented. A merge
        keeps keys that were not sent: the tool's own operation stamp is harmless, but a key the manifest
        dropped is sent again with an empty value, which a Stripe-like service takes as "remove". Where
        that does not remove it, or the service drops a key sent empty, the failure says what to do."""

        def fail(message: str) -> StepFailed:
            return StepFailed(ActionError("update", d.key, message))

        def patch(metadata: dict[str, str]) -> dict[str, Any]:
            answer = self.client.update(import_id, {"title": d.title, "metadata": metadata})
            held = answer.get("metadata")
            # A key sent empty may come back absent; what that means is decided below.
            if answer.get("title") != d.title or not (
                isinstance(held, dict) and all(held.get(k, "") == v for k, v in metadata.items())
            ):
                raise fail(f"the API answered with other values than were sent to {import_id}")
            return held

        def listed(keys: list[str]) -> tuple[str, str]:
            one = len(keys) == 1
            return ("the key " if one else "the keys ") + ", ".join(map(repr, keys)), "it" if one else "them"

        metadata = {**d.metadata, **stamps(self.owner, d)}
        held = patch(metadata)
        left = sorted(k for k in held if k not in metadata and not is_reserved(k))
        if left:
            held = patch({**metadata, **dict.fromkeys(left, "")})
            if kept := [k for k in left if k in held]:
                keys, it = listed(kept)
                raise fail(
                    f"the service merges metadata into what it holds and keeps a key sent empty, so {keys} "
                    f'cannot be removed from {import_id} in place (it is now ""); to converge, set {it} to "" '
                    "in the manifest"
                )
        if dropped := sorted(k for k in metadata if k not in held):
            keys, it = listed(dropped)
            raise fail(
                f'the service removes a metadata key sent with an empty value, so {keys} cannot hold ""; '
                f"remove {it} from the manifest"
            )
        entry = LockEntry.of(d, import_id, records)
        if moved_from is not None:
            self.book.move(moved_from, d.key, entry)
            self.progress(d.key, f"moved {import_id} from {moved_from}")
        else:
            self.book.record(d.key, entry)
            self.progress(d.key, f"updated {import_id}")

    def adopt_for_replace(self, d: DesiredImport, import_id: str, before: dict[str, Any]) -> None:
        """Stamp an import being adopted only to be replaced with our owner and its key (not the CSV's
        stamps: it does not hold the manifest's CSV), and record it, before its replacement is created."""
        metadata = {**(before.get("metadata") or {}), STAMP_OWNER: self.owner, STAMP_KEY: d.key}
        answer = self.client.update(import_id, {"metadata": metadata})
        held = answer.get("metadata")
        if not isinstance(held, dict) or any(held.get(k) != v for k, v in metadata.items()):
            raise StepFailed(
                ActionError("adopt", d.key, f"the API answered with other values than were sent to {import_id}")
            )
        entity = Entity.from_api(before.get("entity")) or d.entity
        entry = LockEntry(
            import_id,
            str(answer.get("title") or ""),
            entity,
            dict(before.get("metadata") or {}),
            d.protected,
            None,
            None,
            None,
            listed_records(before),
            None,
            None,
        )
        self.book.record(d.key, entry)
        self.progress(d.key, f"adopted {import_id}; replacing it")

    def forget(self, key: str, import_id: str, metadata: dict[str, str]) -> None:
        """Remove the tool's stamps from an import and stop recording it; the import is kept.

        A service that merges metadata keeps keys a PATCH leaves out: they are then sent empty. Where even
        that keeps them, the failure says so, and the import stays managed."""

        def stamped(held: Any) -> list[str]:
            if not isinstance(held, dict):
                raise StepFailed(ActionError("forget", key, f"the API answered {import_id}'s update without metadata"))
            return sorted(k for k, v in held.items() if is_reserved(k) and v)

        kept = stamped(self.client.update(import_id, {"metadata": dict(metadata)}).get("metadata"))
        note = ""
        if kept:
            held = self.client.update(import_id, {"metadata": {**metadata, **dict.fromkeys(kept, "")}}).get("metadata")
            left_empty = isinstance(held, dict) and any(k in held for k in kept)
            note = "; the service merges metadata, so the stamps were sent empty" + (
                " and are left empty (no owner claims an empty stamp)" if left_empty else ", which removed them"
            )
            kept = stamped(held)
        if kept:
            raise StepFailed(
                ActionError(
                    "forget",
                    key,
                    f"the service keeps metadata keys that an update leaves out or sends empty, so the stamps "
                    f"{', '.join(kept)} cannot be removed from {import_id}; it stays managed",
                )
            )
        self.book.forget(key)
        self.progress(key, f"forgot {import_id}: no longer managed, the import is kept{note}")
