"""Choosing the imports to dump and keying them, on plain values."""

from __future__ import annotations

import random

from reconciler.dump import choose, left_out_note, manifest_document, render_manifest, slug
from reconciler.model import STAMP_KEY, STAMP_OWNER, is_key
from reconciler.remote.state import RemoteImport


def remote(
    import_id: str,
    title: str,
    *,
    created: str = "2026-01-01T00:00:00.000Z",
    status: str = "completed",
    metadata: dict | None = None,
) -> RemoteImport:
    item = {
        "id": import_id,
        "status": status,
        "title": title,
        "entity": {"type": "company"},
        "count": 1,
        "metadata": metadata or {},
        "createdAt": created,
        "updatedAt": created,
    }
    return RemoteImport.from_api(item)


def test_a_slug_is_a_valid_key_made_of_the_title():
    assert slug("Café Ünïcode", "imp_1") == "cafe-unicode"
    assert slug("  --Hello__World.. v2 ", "imp_1") == "hello-world-v2"
    assert slug("ACME: Customers (2024)", "imp_1") == "acme-customers-2024"
    long = slug("word " * 30, "imp_1")
    assert len(long) <= 64 and is_key(long) and not long.endswith("-")


def test_a_title_with_nothing_to_slug_falls_back_to_the_id():
    assert slug("日本語のリスト", "import_ABCdef0123456789xyz") == "import-123456789xyz"  # the last 12
    assert slug("", "imp_01j9x") == "import-01j9x"
    assert slug("!!!", "???") == "import"
    assert all(is_key(k) for k in (slug("日本語", "import_ABCdef0123456789xyz"), slug("", "x_y")))


def test_clashing_long_titles_stay_within_64_characters():
    items = [remote(f"imp_{i}", "x" * 80) for i in range(12)]
    keys = list(choose(items, {}, "growth").keyed)
    assert len(set(keys)) == 12
    assert all(is_key(k) for k in keys)
    assert "x" * 64 in keys and "x" * 61 + "-12" in keys


def test_keys_follow_the_order_of_creation_then_id_whatever_the_order_listed():
    items = [
        remote("imp_b", "Leads", created="2026-01-02T00:00:00Z"),
        remote("imp_a", "Leads", created="2026-01-02T00:00:00Z"),
        remote("imp_c", "Leads", created="2026-01-01T00:00:00.5Z"),
        remote("imp_d", "leads-2", created="2025-12-31T23:00:00+00:00"),
    ]
    expected = {"leads-2": "imp_d", "leads": "imp_c", "leads-3": "imp_a", "leads-4": "imp_b"}
    for _ in range(5):
        random.shuffle(items)
        assert {k: i.id for k, i in choose(items, {}, "growth").keyed.items()} == expected


def test_this_owners_key_stamps_win_and_a_second_import_of_one_key_or_a_bad_key_stamp_is_left_out():
    stamps = {STAMP_OWNER: "growth", STAMP_KEY: "leads"}
    items = [
        remote("imp_1", "Leads", created="2026-01-01T00:00:00Z"),
        remote("imp_2", "Old", created="2026-01-02T00:00:00Z", metadata=stamps),
        remote("imp_3", "Copy", created="2026-01-03T00:00:00Z", metadata=stamps),
        remote(
            "imp_4", "Bad", created="2026-01-04T00:00:00Z", metadata={STAMP_OWNER: "growth", STAMP_KEY: "Not A Key"}
        ),
    ]
    choice = choose(items, {}, "growth", include_own=True)
    assert {k: i.id for k, i in choice.keyed.items()} == {"leads": "imp_2", "leads-2": "imp_1"}
    assert choice.left_out == {
        "another import of an already dumped key": 1,
        "of this owner without a valid key stamp": 1,
    }


def test_the_note_counts_each_reason_once_in_a_fixed_order():
    assert left_out_note({}) is None
    assert left_out_note({"failed": 1}) == "1 import left out: 1 failed"
    note = left_out_note({"failed": 1, "still processing": 2})
    assert note == "3 imports left out: 2 still processing, 1 failed"


def test_the_text_has_a_header_and_lists_adopt_entries_key_first():
    item = remote("imp_1", "Leads", metadata={STAMP_OWNER: "growth", STAMP_KEY: "leads", "team": "x"})
    text = render_manifest(manifest_document("growth", {"leads": item}))
    assert text.startswith("# A manifest written by `websets-reconciler dump` for owner growth.")
    assert "websets-reconciler/" not in text.split("\nversion: 1\n", 1)[1]  # stamps removed
    assert text.endswith("adopt:\n- {key: leads, id: imp_1}\n")
    assert "    metadata:\n      team: x\n" in text
