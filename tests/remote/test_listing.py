"""Reading the listing in a thread of its own: its requests go on while the caller works, the caller sees
each page as it is converted, and a listing read again from the start or a failed request ends the same
way as when it was read in the caller's thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reconciler.errors import ApiError, RemoteStateError
from reconciler.model import STAMP_IDENTIFIER, STAMP_KEY
from reconciler.remote.state import Listing, RemoteImport


def _import(i: str, **fields: Any) -> dict:
    return {
        "id": i,
        "status": "completed",
        "createdAt": "2027-01-01T00:00:00Z",
        "updatedAt": "2027-01-01T00:00:00Z",
    } | fields


def _page(ids: list[str], cursor: str | None = None) -> dict:
    return {"data": [_import(i) for i in ids], "hasMore": cursor is not None, "nextCursor": cursor}


class Pages:
    """A lister that answers from `answers` in order (an exception is raised), noting each cursor asked for."""

    def __init__(self, answers: list[Any], *, after: int | None = None) -> None:
        self.answers = list(answers)
        self.cursors: list[str | None] = []
        self.threads: set[str] = set()
        self.sent_all = threading.Event()
        self._after = after if after is not None else len(answers)

    def list_page(self, cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
        assert limit == 200
        self.cursors.append(cursor)
        self.threads.add(threading.current_thread().name)
        if len(self.cursors) == self._after:
            self.sent_all.set()
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_every_request_is_sent_before_the_caller_asks_for_the_result():
    pages = Pages([_page(["a", "b"], "c1"), _page(["c"], "c2"), _page(["d"])])
    listing = Listing(pages)
    assert pages.sent_all.wait(timeout=30)  # the caller has converted nothing yet
    assert pages.cursors == [None, "c1", "c2"]
    assert threading.current_thread().name not in pages.threads
    assert [r.id for r in listing.result()] == ["a", "b", "c", "d"]


def test_the_caller_sees_each_page_in_turn_and_a_listing_read_again_starts_over():
    # The first listing repeats an id on its second page; the second is clean.
    pages = Pages([_page(["a"], "c1"), _page(["a"]), _page(["a"], "c1"), _page(["b"])])
    seen: list[list[str]] = []
    items = Listing(pages).result(each_page=lambda page: seen.append([r.id for r in page]))
    assert [r.id for r in items] == ["a", "b"]
    assert seen == [["a"], ["a"], ["b"]]  # the page with the repeated id is never handed over


def test_a_listing_that_stays_inconsistent_is_an_error_after_the_attempts():
    pages = Pages([_page(["a"], "c1"), _page(["b"], "c1")] * 2)
    with pytest.raises(RemoteStateError, match=r"inconsistent \(a cursor repeated\) after 2 attempts"):
        Listing(pages, attempts=2).result()
    assert pages.cursors == [None, "c1"] * 2


def test_a_failed_request_is_raised_by_the_result_after_the_pages_before_it():
    refused = ApiError("GET /websets/v0/imports", 403, "forbidden", "req_1")
    pages = Pages([_page(["a"], "c1"), refused, _page(["never"])])
    seen: list[str] = []
    with pytest.raises(ApiError) as caught:
        Listing(pages).result(each_page=lambda page: seen.extend(r.id for r in page))
    assert caught.value is refused
    assert seen == ["a"]
    assert pages.cursors == [None, "c1"]


def test_metadata_is_kept_as_listed_and_text_that_is_not_valid_unicode_is_replaced():
    ascii_only = {STAMP_KEY: "a", STAMP_IDENTIFIER: "1", "team": "growth"}
    plain = RemoteImport.from_api(_import("a", metadata=ascii_only, title="ACME"))
    assert plain.metadata == ascii_only
    assert (plain.identifier, plain.user_metadata) == (1, {"team": "growth"})
    odd = RemoteImport.from_api(_import("b", metadata={"k\ud800": "é\udc00", "ok": "ü"}, title="T\ud800"))
    assert odd.metadata == {"k\ufffd": "é\ufffd", "ok": "ü"}
    assert odd.title == "T\ufffd"
    assert (odd.identifier, odd.user_metadata) == (None, odd.metadata)
