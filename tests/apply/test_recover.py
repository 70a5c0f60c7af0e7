"""Recovery's rules, one at a time, on the emulator's state."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.apply.book import LockBook
from reconciler.apply.recover import recover
from reconciler.lockfile import Lock, Operation
from reconciler.manifest.load import load_manifest
from reconciler.model import STAMP_OPERATION
from reconciler.remote.client import ApiClient
from reconciler.remote.state import read_remote
from tests.apply.helpers import NO_WAIT_POLL, rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed


def _recover(emulator, root: Path, journal=()):
    manifest = load_manifest(write_files(root, {"a": rows(1, "a"), "b": rows(1, "b")}))
    book = LockBook(root / "websets.lock", Lock("growth", journal=tuple(journal)))
    notes: list[str] = []
    with ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None) as client:
        changed = recover(
            client,
            manifest,
            read_remote(client),
            book,
            lambda key, msg: notes.append(f"{key}: {msg}"),
            timeout=1,
            poll=NO_WAIT_POLL,
            sleep=lambda s: None,
        )
    remaining = {i["id"] for i in emulator.store.list(200, None)["data"]}
    return changed, remaining, book.state, notes


def _op(emulator, import_id: str, key: str, action="create", replaces=None) -> Operation:
    operation = f"op-{import_id}"
    record = emulator.store.get(import_id)
    emulator.store.update(import_id, {"metadata": {**record["metadata"], STAMP_OPERATION: operation}})
    return Operation(operation, key, action, replaces, "0" * 64)


def test_journal_completed_replace_keeps_new_and_deletes_old(emulator, tmp_path):
    old = seed(emulator, "a", content=rows(1, "a"))
    new = seed(emulator, "a", content=rows(1, "a"))
    changed, remaining, lock, notes = _recover(emulator, tmp_path, [_op(emulator, new, "a", "replace", old)])
    assert changed and remaining == {new}
    assert lock.journal == ()
    assert f"a: interrupted replace: {new} completed" in notes


def test_journal_pending_is_deleted_and_missing_is_forgotten(emulator, tmp_path):
    pending = seed(emulator, "a", upload=False)
    ghost = Operation("op-never-made", "b", "create", None, "0" * 64)
    changed, remaining, lock, notes = _recover(emulator, tmp_path, [_op(emulator, pending, "a"), ghost])
    assert changed and remaining == set()
    assert lock.journal == ()
    assert any("had made nothing" in n for n in notes)


def test_an_abandoned_create_is_deleted_whatever_its_status(emulator, tmp_path):
    made = seed(emulator, "a", content=rows(1, "a"))
    op = replace(_op(emulator, made, "a"), abandoned=True)
    changed, remaining, lock, notes = _recover(emulator, tmp_path, [op])
    assert changed and remaining == set() and lock.journal == ()
    assert notes == [f"a: deleted {made}, made by a create that was given up on"]
