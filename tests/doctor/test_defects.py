"""A service that breaks one assumption makes that row fail and `doctor` exit 1, naming it on its last line;
one that differs only where the tool does not rely on it still passes."""

from __future__ import annotations

import pytest

from reconciler.doctor import THROWAWAY_TITLE
from reconciler.doctor.rows import (
    CURSORS,
    NEWEST_FIRST,
    PATCH,
    READ_AFTER_WRITE,
    UPLOAD,
    WINDOW,
    WRONG_KEY,
)
from tests.conftest import API_KEY
from tests.doctor.helpers import bend_listing, invoke, no_throwaway_left, rows_of, seed_imports


@pytest.fixture
def emu(make_emulator, clock, monkeypatch):
    emu = make_emulator(clock=clock)
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emu.base_url)
    seed_imports(emu, clock, 5)
    return emu


def failing(result) -> list[str]:
    """The relied-on rows that failed."""
    return [name for name, row in rows_of(result).items() if row["relied_on"] and not row["ok"]]


def assert_only_fails(result, assumption: str) -> dict:
    assert result.exit_code == 1, result.output
    assert failing(result) == [assumption]
    assert result.stderr.splitlines()[-1] == f"Error: 1 of 8 assumptions the tool relies on failed: {assumption}"
    return rows_of(result)[assumption]


def test_a_service_that_takes_any_key_fails_the_wrong_key_row(emu, monkeypatch):
    monkeypatch.setattr(emu, "_authorized", lambda handler: True)
    row = assert_only_fails(invoke("--json"), WRONG_KEY)
    assert row["observed"] == "accepted: a listing with a wrong key answered 200"
    assert no_throwaway_left(emu)


@pytest.mark.parametrize(("status", "holds"), [(403, True), (404, False), (400, False)])
def test_a_wrong_key_must_be_refused_as_unauthorized_or_forbidden(emu, monkeypatch, status, holds):
    dispatch = emu._dispatch

    def answer_as(*args):
        response = dispatch(*args)
        if response.status == 401:
            response.status = status
        return response

    monkeypatch.setattr(emu, "_dispatch", answer_as)
    result = invoke("--json")
    row = rows_of(result)[WRONG_KEY]
    if holds:
        assert result.exit_code == 0, result.output
        assert row["observed"] == "refused: HTTP 403" and row["ok"] is True
    else:
        assert assert_only_fails(result, WRONG_KEY)["observed"].startswith(f"answered HTTP {status}: ")
    assert no_throwaway_left(emu)


def _repeat_the_cursor(page, limit, cursor):
    if cursor is not None and page["hasMore"]:
        page["nextCursor"] = cursor  # the page after this one is the one just read
    return page


def _repeat_an_id(page, limit, cursor):
    if cursor is not None:
        page["data"] = [*page["data"], page["data"][0]]  # an offset that drifted: one import twice
    return page


def _more_without_a_cursor(page, limit, cursor):
    if page["hasMore"]:
        page["nextCursor"] = None
    return page


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_repeat_the_cursor, "a cursor repeated"),
        (_repeat_an_id, "listed twice"),
        (_more_without_a_cursor, "hasMore is true but nextCursor is empty"),
    ],
    ids=["cursor-repeated", "id-repeated", "no-cursor"],
)
def test_a_listing_that_cannot_be_followed_fails_the_cursor_row(emu, monkeypatch, edit, problem):
    bend_listing(emu, monkeypatch, edit)
    row = assert_only_fails(invoke("--json"), CURSORS)
    assert problem in row["observed"] and row["observed"].startswith("limit 2: ")
    assert no_throwaway_left(emu)


def test_a_listing_oldest_first_fails_the_order_row(emu, monkeypatch):
    def oldest_first(page, limit, cursor):
        if limit == 200:
            page["data"].reverse()
        return page

    bend_listing(emu, monkeypatch, oldest_first)
    row = assert_only_fails(invoke("--json"), NEWEST_FIRST)
    assert row["observed"].startswith("no, at limit 200: ")
    assert no_throwaway_left(emu)


def test_a_listing_that_shows_a_create_late_fails_the_read_after_write_row(emu, monkeypatch):
    def late(page, limit, cursor):
        if limit == 2:
            page["data"] = [item for item in page["data"] if item["title"] != THROWAWAY_TITLE]
        return page

    bend_listing(emu, monkeypatch, late)
    row = assert_only_fails(invoke("--json"), READ_AFTER_WRITE)
    assert row["observed"].startswith("no: import_") and "was not among the first" in row["observed"]
    assert no_throwaway_left(emu)


def test_a_patch_that_replaces_and_drops_empty_values_is_none_of_the_three(emu, monkeypatch):
    update = emu.store.update

    def replace_dropping_empty(import_id, changes):
        update(import_id, {"metadata": {}})  # replace: nothing kept
        return update(import_id, {"metadata": {k: v for k, v in changes["metadata"].items() if v}})

    monkeypatch.setattr(emu.store, "update", replace_dropping_empty)
    row = assert_only_fails(invoke("--json"), PATCH)
    assert row["observed"].startswith("none of the three: ")
    assert row["observed"].endswith(' left {"doctor-added": "1"}')


def test_a_patch_whose_answer_a_get_contradicts_fails_the_patch_row(emu, monkeypatch):
    get = emu.store.get
    monkeypatch.setattr(emu.store, "get", lambda import_id: {**get(import_id), "metadata": {}})
    row = assert_only_fails(invoke("--json"), PATCH)
    assert row["observed"] == "replace by its answer, but a GET then showed {}"
    assert no_throwaway_left(emu)


def test_an_upload_window_shorter_than_the_lease_fails_the_pending_row(make_emulator, clock, monkeypatch):
    emu = make_emulator(clock=clock, upload_valid_for=120.0)
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emu.base_url)
    row = assert_only_fails(invoke("--json"), WINDOW)
    assert row["observed"] == (
        "120 s (uploadValidUntil - createdAt), shorter than the state lock's lease of 300 s;"
        " still pending when last listed"
    )


def test_an_import_that_leaves_pending_without_an_upload_fails_the_pending_row(emu, monkeypatch):
    def canceled(page, limit, cursor):
        for item in page["data"]:
            if item["title"] == THROWAWAY_TITLE:
                item["status"] = "canceled"
        return page

    bend_listing(emu, monkeypatch, canceled)
    row = assert_only_fails(invoke("--json"), WINDOW)
    assert row["observed"].endswith("; canceled when last listed, with no upload")


def test_an_upload_of_the_wrong_length_accepted_is_reported_but_fails_nothing(emu, monkeypatch):
    def processing(page, limit, cursor):
        for item in page["data"]:
            if item["title"] == THROWAWAY_TITLE:
                item["status"] = "processing"  # as the accepted body would make it
        return page

    monkeypatch.setattr(emu.store, "upload", lambda token, content: None)  # any length is taken
    bend_listing(emu, monkeypatch, processing)
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    rows = rows_of(result)
    assert rows[UPLOAD]["observed"] == "accepted: 46 bytes for a declared size of 25"
    assert rows[UPLOAD]["relied_on"] is False
    # The upload ended the pending state: only the window is judged.
    assert rows[WINDOW]["ok"] is True
    assert rows[WINDOW]["observed"].endswith("; processing when last listed, after the upload probe")
    assert no_throwaway_left(emu)
