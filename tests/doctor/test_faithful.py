"""`doctor` against the emulator under each of its choices: every assumption the tool relies on holds, the
PATCH row names the behaviour it saw, and the throwaway import is gone afterwards."""

from __future__ import annotations

import pytest

from reconciler.doctor import THROWAWAY_TITLE
from reconciler.doctor.rows import CURSORS, EXPIRED, LIMIT, NEWEST_FIRST, PATCH, READ_AFTER_WRITE, UPLOAD, WINDOW
from reconciler.emulator.choices import EXPIRED_UPLOADS, METADATA_UPDATES
from reconciler.model import STAMP_OWNER, is_reserved
from tests.conftest import API_KEY
from tests.doctor.helpers import invoke, no_throwaway_left, rows_of, seed_imports, stored_titles


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)


def _point_at(emu, monkeypatch):
    monkeypatch.setenv("EXA_BASE_URL", emu.base_url)
    return emu


@pytest.mark.parametrize("choice", METADATA_UPDATES)
def test_every_relied_on_assumption_holds_and_the_patch_row_names_the_emulators_choice(
    make_emulator, clock, monkeypatch, choice
):
    emu = _point_at(make_emulator(clock=clock, metadata_update=choice), monkeypatch)
    seeded = seed_imports(emu, clock, 5)
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    rows = rows_of(result)
    assert [name for name, row in rows.items() if row["relied_on"] and not row["ok"]] == []
    assert rows[PATCH]["observed"].startswith(f"{choice}:")
    assert rows[LIMIT]["observed"] == "accepted: the first page held 6 imports"
    assert rows[CURSORS]["observed"] == (
        "limit 2: 3 pages to hasMore: false, 6 imports; limit 200: 1 page to hasMore: false, 6 imports;"
        " no cursor or id repeated"
    )
    assert rows[NEWEST_FIRST]["observed"] == "yes, over 6 imports"
    assert rows[READ_AFTER_WRITE]["observed"] == "yes: the throwaway import was first"
    assert rows[WINDOW]["observed"] == "3600 s (uploadValidUntil - createdAt); still pending when last listed"
    assert rows[UPLOAD] == {
        "assumption": UPLOAD,
        "observed": "refused: HTTP 400: the body is 46 bytes but the import declared size 25",
        "ok": True,
        "relied_on": False,
    }
    assert result.stderr.strip() == "Every assumption the tool relies on holds (8 of 8)."
    # The throwaway is gone; what was there before is untouched.
    assert [item["id"] for item in emu.store.list(200, None)["data"]] == seeded[::-1]
    deletes = [entry for entry in emu.request_log if entry["method"] == "DELETE"]
    assert len(deletes) == 1 and deletes[0]["status"] == 200


def test_the_small_pages_stop_at_their_bound_and_the_pages_of_200_go_to_the_end(make_emulator, clock, monkeypatch):
    emu = _point_at(make_emulator(clock=clock), monkeypatch)
    seed_imports(emu, clock, 204)
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    rows = rows_of(result)
    assert rows[CURSORS]["observed"] == (
        "limit 2: 5 pages (stopped there), 10 imports; limit 200: 2 pages to hasMore: false, 205 imports;"
        " no cursor or id repeated"
    )
    assert rows[LIMIT]["observed"] == "accepted: the first page held 200 imports"
    assert rows[NEWEST_FIRST]["observed"] == "yes, over 205 imports"
    assert stored_titles(emu)[0] == "seeded 203"  # the newest is what it was before: the throwaway is gone


def test_the_table_names_the_service_and_marks_each_row(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)
    result = invoke()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"websets-reconciler doctor: {emulator.base_url}"
    assert lines[2].split() == ["ok", "assumption", "observed"]
    marks = [line.split()[0] for line in lines[3:]]
    assert marks == ["ok"] * 7 + ["info", "ok", "info"]
    assert no_throwaway_left(emulator)


def test_the_throwaway_carries_a_clear_title_and_no_stamp_of_the_tool(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)
    assert invoke().exit_code == 0
    created = [entry["body"] for entry in emulator.request_log if entry["method"] == "POST"]
    assert len(created) == 1
    assert created[0]["title"] == THROWAWAY_TITLE == "websets-reconciler doctor: throwaway, safe to delete"
    assert created[0]["metadata"] and not any(is_reserved(key) for key in created[0]["metadata"])
    assert STAMP_OWNER not in created[0]["metadata"]
    assert stored_titles(emulator) == []


@pytest.mark.parametrize(
    ("expired", "observed"),
    [
        ("pending", "2 still pending, 0 failed when the window closed, 0 canceled"),
        ("failed", "0 still pending, 2 failed when the window closed, 0 canceled"),
        ("canceled", "0 still pending, 0 failed when the window closed, 2 canceled"),
        ("deleted", "none seen among 4 imports"),
    ],
)
def test_imports_past_their_upload_window_are_reported_as_seen_never_as_a_failure(
    make_emulator, clock, monkeypatch, expired, observed
):
    assert expired in EXPIRED_UPLOADS
    emu = _point_at(make_emulator(clock=clock, expired_upload=expired), monkeypatch)
    seed_imports(emu, clock, 2, upload=False)
    clock.advance(3600.5)
    seed_imports(emu, clock, 3)  # completed: never counted
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    row = rows_of(result)[EXPIRED]
    assert row == {"assumption": EXPIRED, "observed": observed, "ok": True, "relied_on": False}
    assert no_throwaway_left(emu)
