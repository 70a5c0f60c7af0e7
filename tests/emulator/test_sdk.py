"""The official SDK, exa-py 2.27.0, drives the emulator through every imports method unchanged."""

from __future__ import annotations

import pytest
from exa_py import Exa

from tests.conftest import API_KEY

CSV = 'url,name\nhttps://a.example,A\n"https://b.example","B\nsecond line"\nhttps://c.example,C\n'


@pytest.fixture
def exa(emulator):
    return Exa(API_KEY, base_url=emulator.base_url)


def _create(exa, title: str = "t", csv: str = CSV):
    params = {"format": "csv", "entity": {"type": "company"}, "title": title, "csv": {"identifier": 0}}
    return exa.websets.imports.create(params, csv_data=csv)


def test_create_with_csv_data_then_wait_until_completed(exa, emulator):
    created = _create(exa)
    done = exa.websets.imports.wait_until_completed(created.id, poll_interval=0, timeout=5)
    assert done.status == "completed"
    assert done.count == 3  # the quoted newline does not start a record
    assert done.failed_reason is None
    assert emulator.store.uploaded_file(created.id) == CSV.encode()
    upload = next(e for e in emulator.request_log if e["method"] == "PUT")
    assert upload["api_key_present"] is False and upload["status"] == 200


def test_create_without_csv_data_returns_upload_url(exa):
    response = exa.websets.imports.create(
        {"format": "csv", "entity": {"type": "person"}, "size": 10, "count": 1, "title": "manual"}
    )
    assert response.status == "pending"
    assert response.upload_url.startswith("http://127.0.0.1:")
    assert response.upload_valid_until


@pytest.mark.parametrize("limit", [1, 2, 200])
def test_list_pages_through_everything(exa, limit):
    ids = [_create(exa, title=f"t{i}").id for i in range(7)]
    seen, cursor = [], None
    while True:
        page = exa.websets.imports.list(limit=limit, cursor=cursor)
        assert len(page.data) <= limit
        seen += [item.id for item in page.data]
        if not page.has_more:
            assert page.next_cursor is None
            break
        cursor = page.next_cursor
    assert seen == list(reversed(ids))  # newest first, each exactly once


def test_get_update_delete(exa):
    created = _create(exa)
    got = exa.websets.imports.get(created.id)
    assert got.id == created.id and got.title == "t"
    updated = exa.websets.imports.update(created.id, {"title": "renamed", "metadata": {"team": "growth"}})
    assert updated.title == "renamed" and updated.metadata == {"team": "growth"}
    assert exa.websets.imports.get(created.id).metadata == {"team": "growth"}
    deleted = exa.websets.imports.delete(created.id)
    assert deleted.id == created.id and deleted.title == "renamed"
    with pytest.raises(ValueError, match="404"):
        exa.websets.imports.get(created.id)
