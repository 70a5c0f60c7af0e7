"""The listing is served from kept JSON (each import's, and whole pages'): it always says what the store
holds at that moment, whoever changed it and whichever way the clock moved."""

from __future__ import annotations

import itertools
import json

from reconciler.emulator.choices import Choices
from reconciler.emulator.store import Store

CSV = b"url\nhttps://a.example\n"


def params(title: str = "t") -> dict:
    size = len(CSV)
    return {"format": "csv", "size": size, "count": 1, "title": title, "entity": {"type": "company"}, "metadata": {}}


def create(store: Store, title: str = "t", upload: bool = True) -> str:
    view, token, _ = store.create({**params(title), "identifier": 0})
    if upload:
        store.upload(token, CSV)
    return view["id"]


def listed(store: Store, limit: int = 200) -> list[dict]:
    items, cursor = [], None
    while True:
        page = store.list(limit, cursor)
        items += page["data"]
        if not page["hasMore"]:
            return items
        cursor = page["nextCursor"]


def statuses(store: Store) -> list[str]:
    return [item["status"] for item in listed(store)]


def test_a_page_is_byte_for_byte_the_json_of_the_imports_as_viewed_now(tmp_path):
    clock = [1000.0]
    store = Store(tmp_path, clock=lambda: clock[0], processing_delay=5)
    ids = [create(store, "a"), create(store, "b", upload=False), create(store, "c")]
    listed(store)  # what is kept from here on must not change the answer
    clock[0] = 1003.0
    for _ in range(2):
        text = store.list_json(2, None)
        cursor = json.loads(text)["nextCursor"]
        assert text == json.dumps(
            {"data": [store.get(ids[2]), store.get(ids[1])], "hasMore": True, "nextCursor": cursor}
        )
        assert store.list_json(2, cursor) == json.dumps(
            {"data": [store.get(ids[0])], "hasMore": False, "nextCursor": None}
        )


def test_the_listing_follows_the_clock_both_ways(tmp_path):
    clock = [1000.0]
    store = Store(tmp_path, clock=lambda: clock[0], processing_delay=10, upload_valid_for=100)
    create(store)
    create(store, upload=False)
    assert statuses(store) == ["pending", "processing"]
    clock[0] = 1010.0  # processing ends at this very moment
    assert statuses(store) == ["pending", "completed"]
    clock[0] = 1005.0
    assert statuses(store) == ["pending", "processing"]
    clock[0] = 2000.0
    assert statuses(store) == ["pending", "completed"]


def test_an_upload_window_that_closes_shows_in_the_listing_and_reopens_with_the_clock(tmp_path):
    clock = [1000.0]
    store = Store(tmp_path, clock=lambda: clock[0], upload_valid_for=100, choices=Choices(expired_upload="failed"))
    create(store, upload=False)
    clock[0] = 1100.0  # the window's last moment
    assert statuses(store) == ["pending"]
    clock[0] = 1100.5
    assert statuses(store) == ["failed"]
    clock[0] = 1050.0
    assert statuses(store) == ["pending"]


def ticking() -> itertools.count:
    """A clock that moves on a little every time it is read, as time does between requests."""
    return itertools.count(1000.0, 0.001)


def test_changes_made_through_another_store_on_the_same_directory_show_at_once(tmp_path):
    ticks = ticking()
    here = Store(tmp_path, clock=lambda: next(ticks), processing_delay=0)
    there = Store(tmp_path, clock=lambda: next(ticks), processing_delay=0)
    first, second = create(here, "a"), create(here, "b")
    assert [i["title"] for i in listed(here, limit=1)] == ["b", "a"]
    there.update(first, {"title": "renamed", "metadata": {"k": "v"}})
    assert [(i["title"], i["metadata"]) for i in listed(here, limit=1)] == [("b", {}), ("renamed", {"k": "v"})]
    there.delete(second)
    third = create(there, "c")
    assert [i["id"] for i in listed(here, limit=1)] == [third, first]


def test_changes_made_here_show_at_once(tmp_path):
    ticks = ticking()
    store = Store(None, clock=lambda: next(ticks), processing_delay=0)
    first = create(store, "a")
    pending = create(store, "b", upload=False)
    assert statuses(store) == ["pending", "completed"]
    assert statuses(store) == ["pending", "completed"]
    store.update(first, {"title": "renamed"})
    assert [i["title"] for i in listed(store)] == ["b", "renamed"]
    store.delete(pending)
    assert [i["id"] for i in listed(store)] == [first]


def test_a_store_opened_on_kept_imports_lists_them_as_they_were(tmp_path):
    clock = [1000.0]
    first = Store(tmp_path, clock=lambda: clock[0], processing_delay=10)
    for title in "abc":
        create(first, title)
    clock[0] = 1011.0
    before = listed(first)
    first.close()
    clock[0] = 1005.0  # a second process whose clock reads earlier: it sees them processing
    again = Store(tmp_path, clock=lambda: clock[0], processing_delay=10)
    assert statuses(again) == ["processing"] * 3
    clock[0] = 1011.0
    assert listed(again) == before
