"""Remote state: every import, read through the list endpoint's cursor pagination.

A refresh costs ceil(N / 200) requests and never one per import. A listing that contradicts itself
(the same id twice, a cursor seen before) is read again from the start a bounded number of times.
The client has checked each page's shape (`answers.page_problem`) before it arrives here. The pages are
requested by a thread of their own (`Listing`), so the caller can read the manifest meanwhile.

Looking for one create's operation stamp (`find_stamped`) reads only the newest pages: the listing is
newest first, so it stops once it is past the time the create was sent.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.errors import RemoteStateError
from reconciler.model import (
    STAMP_IDENTIFIER,
    STAMP_KEY,
    STAMP_LOCK,
    STAMP_OPERATION,
    STAMP_OWNER,
    STAMP_SHA256,
    Entity,
    is_key,
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


class Unfollowable(Exception):
    """The cursors of a listing cannot be followed to its end; the message says why."""


def pages(fetch: Callable[[str | None], dict[str, Any]], max_pages: int = MAX_PAGES) -> Iterator[dict[str, Any]]:
    """The pages of a cursor-paginated listing (`fetch(cursor)` reads one), to the one whose `hasMore` is
    false; raises Unfollowable when `hasMore` comes without a cursor, a cursor repeats, or it never ends."""
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page = fetch(cursor)
        yield page
        if not page.get("hasMore"):
            return
        cursor = page.get("nextCursor")
        if not cursor:
            raise Unfollowable("hasMore is true but nextCursor is empty")
        if cursor in seen:
            raise Unfollowable("a cursor repeated")
        seen.add(cursor)
    raise Unfollowable(f"more than {max_pages} pages")


class Lister(Protocol):
    def list_page(self, cursor: str | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]: ...


def _text(value: str) -> str:
    """Remote text that can be written as UTF-8: a lone surrogate (JSON allows one) becomes U+FFFD, so an
    import edited that way shows as drift and is corrected, instead of failing every output."""
    if value.isascii():
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _entity(value: dict[str, Any] | None) -> Entity | None:
    entity = Entity.from_api(value)
    if entity is None or entity.description is None or entity.description.isascii():
        return entity
    return Entity(entity.type, _text(entity.description))


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
    # Read out of `metadata` once, as the import is read: a plan asks for them many times over, after the
    # last page, while reading is spread over the listing's waits on the network.
    owner: str | None = field(init=False, repr=False, compare=False)  # the stamps, where present
    key: str | None = field(init=False, repr=False, compare=False)
    sha256: str | None = field(init=False, repr=False, compare=False)
    identifier: int | None = field(init=False, repr=False, compare=False)
    operation: str | None = field(init=False, repr=False, compare=False)
    user_metadata: dict[str, str] = field(init=False, repr=False, compare=False)  # without the stamps

    def __post_init__(self) -> None:
        get, put = self.metadata.get, object.__setattr__
        put(self, "owner", get(STAMP_OWNER))
        key = get(STAMP_KEY)
        # A key stamp no manifest could hold (edited by hand: a newline, Markdown) claims no key.
        put(self, "key", key if key is not None and is_key(key) else None)
        put(self, "sha256", get(STAMP_SHA256))
        value = get(STAMP_IDENTIFIER)
        put(self, "identifier", int(value) if value is not None and value.isdigit() else None)
        put(self, "operation", get(STAMP_OPERATION))
        put(self, "user_metadata", user_metadata(self.metadata))

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RemoteImport:
        """From an Import the client has checked (`answers.import_problem`)."""
        metadata = item.get("metadata") or {}
        # Text is nearly always ASCII: checked a whole mapping at once, it is then copied as it came.
        if "".join(metadata).isascii() and "".join(metadata.values()).isascii():
            metadata = dict(metadata)
        else:
            metadata = {_text(k): _text(v) for k, v in metadata.items()}
        failed_message = item.get("failedMessage")
        return cls(
            item["id"],
            item["status"],
            _text(item.get("title") or ""),
            _entity(item.get("entity")),
            item.get("count") or 0,
            metadata,
            item["createdAt"],
            item["updatedAt"],
            item.get("failedReason"),
            _text(failed_message) if failed_message else None,
        )

    def upload_expired(self, now: float) -> bool:
        """Still pending after its upload window: its upload can no longer arrive."""
        return self.status == "pending" and (parse_time(self.created_at) or now) + UPLOAD_WINDOW < now


_RESTART = object()  # the listing is read again from the start: forget the pages before
_DONE = object()


class Listing:
    """Every import, listed by a thread of its own while the caller does other work; `result()` waits.

    The thread sends each request as soon as the page before it is checked (an id seen twice, or a cursor
    that loops, ends the listing): pages are sequential, so every millisecond between two requests delays
    all the pages after it. The caller turns the pages into RemoteImports as they come, in time it would
    spend waiting anyway. A daemon thread, not a ThreadPoolExecutor (joined at interpreter exit): an error
    reported meanwhile, such as an invalid manifest, never waits for the whole listing.
    """

    def __init__(self, client: Lister, attempts: int = LISTING_ATTEMPTS) -> None:
        self.claims: list[dict[str, Any]] = []  # the state lock's claims met in the listing, as listed
        self._pages: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(client, attempts), daemon=True)
        self._thread.start()

    def _run(self, client: Lister, attempts: int) -> None:
        from reconciler.apply.interrupt import leave_signals_to_the_main_thread

        leave_signals_to_the_main_thread()  # Ctrl-C must wake the main thread, never this one
        try:
            problem = None
            for _ in range(attempts):
                problem = self._list_once(client)
                if problem is None:
                    self._pages.put(_DONE)
                    return
                self._pages.put(_RESTART)
            raise RemoteStateError(
                f"the import listing is inconsistent ({problem}) after {attempts} attempts; try again later"
            )
        except BaseException as exc:
            self._pages.put(exc)

    def _list_once(self, client: Lister) -> str | None:
        """Queue the pages of one listing; the reason it cannot be trusted, if any."""
        seen_ids: set[str] = set()
        try:
            for page in pages(lambda cursor: client.list_page(cursor, PAGE_SIZE)):
                data = page.get("data") or []
                for raw in data:
                    if raw["id"] in seen_ids:
                        return f"import {raw['id']} appeared twice"
                    seen_ids.add(raw["id"])
                self._pages.put(data)
        except Unfollowable as exc:
            return str(exc)
        return None

    def result(self, each_page: Callable[[list[RemoteImport]], None] | None = None) -> list[RemoteImport]:
        """Every import, newest first; raise RemoteStateError if the listing stays inconsistent, and
        what a request raised. `each_page` sees the imports of each page as it comes (those of a listing
        read again from the start included), to do work of its own meanwhile."""
        items: list[RemoteImport] = []
        while (message := self._pages.get()) is not _DONE:
            if message is _RESTART:
                items, self.claims = [], []
            elif isinstance(message, BaseException):
                raise message
            else:
                # State lock claims (reconciler.apply.servicelock) are the lock's, never an import to manage.
                page = [RemoteImport.from_api(raw) for raw in message if STAMP_LOCK not in (raw.get("metadata") or {})]
                if len(page) < len(message):
                    self.claims += [raw for raw in message if STAMP_LOCK in (raw.get("metadata") or {})]
                items += page
                if each_page is not None:
                    each_page(page)
        return items


def read_remote(client: Lister, attempts: int = LISTING_ATTEMPTS) -> list[RemoteImport]:
    """Every import, newest first; raise RemoteStateError if the listing stays inconsistent."""
    return Listing(client, attempts).result()


def find_stamped(client: Lister, operation: str, since: float, skew: float = CLOCK_SKEW) -> RemoteImport | None:
    """The import stamped with `operation`, made by a request sent at `since` (epoch seconds, our clock)
    or later; None when none is. Reads the newest pages only, until past `since` less the clock skew."""
    cutoff = since - skew
    try:
        for page in pages(lambda cursor: client.list_page(cursor, PAGE_SIZE)):
            for raw in page.get("data") or []:
                metadata = raw.get("metadata") or {}
                if metadata.get(STAMP_OPERATION) == operation:
                    return RemoteImport.from_api(raw)
                created = parse_time(raw["createdAt"])
                if created is not None and created < cutoff:
                    return None  # newest first: everything further on is older still
    except Unfollowable as exc:
        # Not "none found": a listing that cannot be followed proves nothing about the stamp.
        raise RemoteStateError(f"the import listing is inconsistent ({exc}); try again later") from None
    return None
