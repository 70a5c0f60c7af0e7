"""What the listing shows: limit=200, cursors followed to the end, newest first, a create seen at once,
and how long a never-uploaded import stays pending.

Two walks: a few small pages (so that cursors are followed even on an account that fits one page of 200),
then the whole listing at 200 a page, as `plan` reads it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from reconciler.doctor.rows import (
    CURSORS,
    EXPIRED,
    LIMIT,
    NEWEST_FIRST,
    READ_AFTER_WRITE,
    WINDOW,
    Row,
)
from reconciler.errors import ApiError, TransportError
from reconciler.model import DEFAULT_LEASE
from reconciler.remote.answers import parse_time
from reconciler.remote.client import ApiClient
from reconciler.remote.state import PAGE_SIZE, UPLOAD_WINDOW, Unfollowable, pages

SMALL_LIMIT = 2
SMALL_PAGES = 5  # enough to follow a few cursors; the walk at 200 goes to the end


def imports(n: int) -> str:
    """`n imports`, or `1 import`."""
    return f"{n} import{'s' if n != 1 else ''}"


@dataclass
class Walk:
    """One walk of the listing: the imports in listing order, and what went wrong on the way."""

    limit: int
    items: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    first_page: int = 0  # how many imports the first page held
    ended: bool = False  # a page said hasMore: false
    problem: str | None = None  # a repeated cursor or id, hasMore without a cursor
    refused: str | None = None  # the first page was refused: the limit is not taken

    def find(self, import_id: str) -> dict[str, Any] | None:
        """The listed import with this id."""
        return next((item for item in self.items if item["id"] == import_id), None)

    def summary(self) -> str:
        """What the walk read, in a few words."""
        if self.refused:
            return f"limit {self.limit}: refused"
        if self.problem:
            return f"limit {self.limit}: {self.problem}"
        pages = f"{self.pages} page{'s' if self.pages != 1 else ''}"
        reach = "to hasMore: false" if self.ended else "(stopped there)"
        return f"limit {self.limit}: {pages} {reach}, {imports(len(self.items))}"


def walk(client: ApiClient, limit: int, max_pages: int | None = None) -> Walk:
    """Follow the listing's cursors at `limit` a page, to its end or for `max_pages` pages."""
    result = Walk(limit)
    seen: set[str] = set()
    listing = pages(lambda cursor: client.list_page(cursor, limit=limit))
    try:
        for page in itertools.islice(listing, max_pages):
            result.pages += 1
            if result.pages == 1:
                result.first_page = len(page["data"])
            for item in page["data"]:
                if item["id"] in seen:
                    result.problem = f"import {item['id']} listed twice (page {result.pages})"
                    return result
                seen.add(item["id"])
                result.items.append(item)
            result.ended = not page["hasMore"]
    except Unfollowable as exc:
        result.problem = f"{exc} (after page {result.pages})"
    except TransportError:
        raise
    except ApiError as exc:
        if result.pages or exc.status not in (400, 422):
            raise
        result.refused = f"HTTP {exc.status}: {exc.detail}"
    return result


def small_walk(client: ApiClient) -> Walk:
    """The first few pages at a small limit."""
    return walk(client, SMALL_LIMIT, SMALL_PAGES)


def full_walk(client: ApiClient) -> Walk:
    """The whole listing at 200 a page."""
    return walk(client, PAGE_SIZE)


def limit_row(full: Walk) -> Row:
    """limit=200 is taken."""
    if full.refused:
        return Row(LIMIT, f"refused: {full.refused}", False)
    more = f", more than the {PAGE_SIZE} asked for" if full.first_page > PAGE_SIZE else ""
    return Row(LIMIT, f"accepted: the first page held {imports(full.first_page)}{more}", True)


def cursors_row(small: Walk, full: Walk) -> Row:
    """Both walks end (or stop at their bound) with no cursor or id seen twice."""
    ok = not (small.problem or small.refused or full.problem or full.refused) and full.ended
    observed = f"{small.summary()}; {full.summary()}"
    if ok:
        observed += "; no cursor or id repeated"
    return Row(CURSORS, observed, ok)


def _increase(items: list[dict[str, Any]]) -> str | None:
    """The first place where createdAt goes up along the listing."""
    for before, after in itertools.pairwise(items):
        if (parse_time(after["createdAt"]) or 0.0) > (parse_time(before["createdAt"]) or 0.0):
            return f"{after['id']} ({after['createdAt']}) listed after {before['id']} ({before['createdAt']})"
    return None


def newest_first_row(small: Walk, full: Walk) -> Row:
    """createdAt never increases along either walk."""
    for one in (small, full):
        found = _increase(one.items)
        if found is not None:
            return Row(NEWEST_FIRST, f"no, at limit {one.limit}: {found}", False)
    return Row(NEWEST_FIRST, f"yes, over {imports(max(len(small.items), len(full.items)))}", True)


def read_after_write_row(created: dict[str, Any], small: Walk) -> Row:
    """The throwaway leads the first listing read after its create; only imports made since may precede it."""
    if small.refused:
        return Row(READ_AFTER_WRITE, f"not checked: the listing at limit {small.limit} was refused", False)
    ids = [item["id"] for item in small.items]
    if created["id"] not in ids:
        where = f"the first {len(ids)} imports" if ids else "an empty listing"
        return Row(READ_AFTER_WRITE, f"no: {created['id']} was not among {where}", False)
    position = ids.index(created["id"])
    if position == 0:
        return Row(READ_AFTER_WRITE, "yes: the throwaway import was first", True)
    made = parse_time(created["createdAt"]) or 0.0
    newer = all((parse_time(item["createdAt"]) or 0.0) > made for item in small.items[:position])
    if newer:
        return Row(READ_AFTER_WRITE, f"yes: listed after {position} import(s) made since", True)
    return Row(READ_AFTER_WRITE, f"no: listed at position {position + 1}, after older imports", False)


def upload_window(created: dict[str, Any]) -> float | None:
    """uploadValidUntil - createdAt of a create's answer, in seconds."""
    until, made = parse_time(created.get("uploadValidUntil")), parse_time(created.get("createdAt"))
    return None if until is None or made is None else until - made


def window_row(created: dict[str, Any], full: Walk, upload_landed: bool) -> Row:
    """The upload window outlasts the state lock's lease, and the throwaway is pending when last listed."""
    window = upload_window(created)
    if window is None:
        return Row(WINDOW, "unknown: the create's answer has no uploadValidUntil", False)
    long_enough = window >= DEFAULT_LEASE
    observed = f"{window:g} s (uploadValidUntil - createdAt)"
    if not long_enough:
        observed += f", shorter than the state lock's lease of {DEFAULT_LEASE:g} s"
    listed = full.find(created["id"])
    if full.refused:
        return Row(WINDOW, observed + "; not listed: the listing was refused", False)
    if listed is None:
        return Row(WINDOW, observed + "; the throwaway import was missing from the last listing", False)
    status = listed["status"]
    if status == "pending":
        return Row(WINDOW, observed + "; still pending when last listed", long_enough)
    if upload_landed:  # the upload probe's body may have ended its pending state: only the window is judged
        return Row(WINDOW, observed + f"; {status} when last listed, after the upload probe", long_enough)
    return Row(WINDOW, observed + f"; {status} when last listed, with no upload", False)


def _time(value: object) -> float | None:
    """A date-time the client did not check (failedAt), or None when it is not one."""
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def expired_row(created: dict[str, Any], full: Walk) -> Row:
    """What the listing shows of imports older than their upload window that never got an upload."""
    window = upload_window(created) or UPLOAD_WINDOW
    now = parse_time(created["createdAt"]) or 0.0  # the service's clock, not ours
    pending = failed = canceled = 0
    for item in full.items:
        made = parse_time(item["createdAt"]) or now
        if made + window > now:
            continue
        if item["status"] == "pending":
            pending += 1
        elif item["status"] == "canceled":
            canceled += 1
        elif item["status"] == "failed" and (_time(item.get("failedAt")) or 0.0) >= made + window:
            failed += 1  # it failed once its window closed: no processing takes that long after an upload
    if not (pending or failed or canceled):
        return Row(EXPIRED, f"none seen among {imports(len(full.items))}", True, relied_on=False)
    observed = f"{pending} still pending, {failed} failed when the window closed, {canceled} canceled"
    return Row(EXPIRED, observed, True, relied_on=False)
