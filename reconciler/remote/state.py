"""Remote state: every import, read through the list endpoint's cursor pagination.

A refresh costs ceil(N / 200) requests and never one per import. A listing that contradicts itself
(the same id twice, a cursor seen before) is read again from the start a bounded number of times.
The client has checked each page's shape (`answers.page_problem`) before it arrives here.

Looking for one create's operation stamp (`find_stamped`) reads only the newest pages: the listing is
newest first, so it stops once it is past the time the create was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.errors import RemoteStateError
from reconciler.model import (
    STAMP_IDENTIFIER,
    STAMP_KEY,
    STAMP_OPERATION,
    STAMP_OWNER,
    STAMP_SHA256,
    Entity,
    user_metadata,
)
from reconciler.remote.answers import parse_time

PAGE_SIZE = 200
# The server stamps createdAt by its clock, not ours: an import made by a request we sent at T may read
# as created a little before T. Searches by time reach this far further back than our clock says.
CLOCK_SKEW = 300.0
UPLOAD_WINDOW = 3600.0  # the API's default upload validity: a pending import older than this can never complete
LISTING_ATTEMPTS = 3
MAX_PAGES = 100_000  # a cursor loop that never ends is caught long before this


class Lister(Protocol):
    def list_page(self, cursor: str | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]: ...


def _text(value: str) -> str:
    """Remote text that can be written as UTF-8: a lone surrogate (JSON allows one) becomes U+FFFD, so an
    import edited that way shows as drift and is corrected, instead of failing every output."""
    if value.isascii():
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@dataclass(frozen=True, slots=True)
class RemoteImport:
    """One import as the API reports it, with the tool's stamps read out of its metadata."""

    id: str
    status: str
    title: str
    entity: Entity | None
    count: float
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    failed_reason: str | None = None
    failed_message: str | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RemoteImport:
        """From an Import the client has checked (`answers.import_problem`)."""
        return cls(
            id=item["id"],
            status=item["status"],
            title=_text(item.get("title") or ""),
            entity=Entity.from_api(item.get("entity")),
            count=item.get("count") or 0,
            metadata={_text(k): _text(v) for k, v in (item.get("metadata") or {}).items()},
            created_at=item["createdAt"],
            updated_at=item["updatedAt"],
            failed_reason=item.get("failedReason"),
            failed_message=_text(item["failedMessage"]) if item.get("failedMessage") else None,
        )

    def upload_expired(self, now: float) -> bool:
        """Still pending after its upload window: its upload can no longer arrive."""
        return self.status == "pending" and (parse_time(self.created_at) or now) + UPLOAD_WINDOW < now

    @property
    def owner(self) -> str | None:
        return self.metadata.get(STAMP_OWNER)

    @property
    def key(self) -> str | None:
        return self.metadata.get(STAMP_KEY)

    @property
    def sha256(self) -> str | None:
        return self.metadata.get(STAMP_SHA256)

    @property
    def identifier(self) -> int | None:
        value = self.metadata.get(STAMP_IDENTIFIER)
        return int(value) if value is not None and value.isdigit() else None

    @property
    def operation(self) -> str | None:
        return self.metadata.get(STAMP_OPERATION)

    @property
    def user_metadata(self) -> dict[str, str]:
        return user_metadata(self.metadata)


def _list_once(client: Lister) -> tuple[list[RemoteImport], str | None]:
    items: list[RemoteImport] = []
    seen_ids: set[str] = set()
    seen_cursors: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = client.list_page(cursor, PAGE_SIZE)
        for raw in page.get("data") or []:
            item = RemoteImport.from_api(raw)
            if item.id in seen_ids:
                return items, f"import {item.id} appeared twice"
            seen_ids.add(item.id)
            items.append(item)
        if not page.get("hasMore"):
            return items, None
        cursor = page.get("nextCursor")
        if not cursor:
            return items, "hasMore is true but nextCursor is empty"
        if cursor in seen_cursors:
            return items, "a cursor repeated"
        seen_cursors.add(cursor)
    return items, f"more than {MAX_PAGES} pages"


def read_remote(client: Lister, attempts: int = LISTING_ATTEMPTS) -> list[RemoteImport]:
    """Every import, newest first; raise RemoteStateError if the listing stays inconsistent."""
    problem = None
    for _ in range(attempts):
        items, problem = _list_once(client)
        if problem is None:
            return items
    raise RemoteStateError(f"the import listing is inconsistent ({problem}) after {attempts} attempts; try again later")


def find_stamped(client: Lister, operation: str, since: float, skew: float = CLOCK_SKEW) -> RemoteImport | None:
    """The import stamped with `operation`, made by a request sent at `since` (epoch seconds, our clock)
    or later; None when none is. Reads the newest pages only, until past `since` less the clock skew."""
    cutoff = since - skew
    cursor: str | None = None
    seen_cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        page = client.list_page(cursor, PAGE_SIZE)
        for raw in page.get("data") or []:
            metadata = raw.get("metadata") or {}
            if metadata.get(STAMP_OPERATION) == operation:
                return RemoteImport.from_api(raw)
            created = parse_time(raw["createdAt"])
            if created is not None and created < cutoff:
                return None  # newest first: everything further on is older still
        if not page.get("hasMore"):
            return None
        cursor = page.get("nextCursor")
        if not cursor or cursor in seen_cursors:
            # Not "none found": a listing that cannot be followed proves nothing about the stamp.
            problem = "hasMore is true but nextCursor is empty" if not cursor else "a cursor repeated"
            raise RemoteStateError(f"the import listing is inconsistent ({problem}); try again later")
        seen_cursors.add(cursor)
    raise RemoteStateError(f"the import listing is inconsistent (more than {MAX_PAGES} pages); try again later")
