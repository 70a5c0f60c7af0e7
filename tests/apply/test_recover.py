"""Recovery's rules, one at a time, on the emulator's state."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.apply.book import LockBook
from reconciler.apply.recover import recover
from reconciler.lockfile import Lock, LockEntry, Operation
from reconciler.manifest.load import load_manifest
from reconciler.model import STAMP_OPERATION
from reconciler.remote.client import ApiClient
from reconciler.remote.state import read_remote
from tests.apply.helpers import NO_WAIT_POLL, rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed


def _recover(emulator, root: Path, journal=(), now=None):
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
            now=now if now is not None else emulator.store.clock(),
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
    assert any("completed; keeping it" in n for n in notes)


def test_journal_pending_is_deleted_and_missing_is_forgotten(emulator, tmp_path):
    pending = seed(emulator, "a", upload=False)
    ghost = Operation("op-never-made", "b", "create", None, "0" * 64)
    changed, remaining, lock, notes = _recover(emulator, tmp_path, [_op(emulator, pending, "a"), ghost])
    assert changed and remaining == set()
    assert lock.journal == ()
    assert any("had made nothing" in n for n in notes)


def test_young_pending_import_outside_the_journal_is_left_alone(emulator, tmp_path, clock):
    young = seed(emulator, "a", upload=False)
    changed, remaining, _, _ = _recover(emulator, tmp_path)
    assert not changed and remaining == {young}
    clock.advance(3601)
    changed, remaining, _, notes = _recover(emulator, tmp_path)
    assert changed and remaining == set()
    assert any("upload never happened" in n for n in notes)


def test_settled_duplicates_keep_the_planners_choice(emulator, tmp_path, clock):
    first = seed(emulator, "a", content=rows(1, "a"))
    clock.advance(1)
    second = seed(emulator, "a", content=rows(1, "a"))
    foreign = seed(emulator, "a", owner="sales", content=rows(1, "a"))
    changed, remaining, _, notes = _recover(emulator, tmp_path)
    assert changed and len(remaining & {first, second}) == 1 and foreign in remaining
    assert any("a duplicate of" in n for n in notes)


def test_an_import_reported_kept_is_never_then_deleted_as_a_duplicate(emulator, tmp_path, clock):
    """An interrupted create completed beside the import the lockfile records: one of them is kept and the
    messages say which, each import once."""
    recorded = seed(emulator, "a", content=rows(1, "a"))
    clock.advance(1)
    made = seed(emulator, "a", content=rows(1, "a"))
    manifest = load_manifest(write_files(tmp_path, {"a": rows(1, "a"), "b": rows(1, "b")}))
    lock = Lock("growth", imports={"a": LockEntry.of(manifest.imports["a"], recorded)})
    book = LockBook(tmp_path / "websets.lock", replace(lock, journal=(_op(emulator, made, "a"),)))
    notes: list[str] = []
    with ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None) as client:
        recover(
            client,
            manifest,
            read_remote(client),
            book,
            lambda key, msg: notes.append(msg),
            timeout=1,
            poll=NO_WAIT_POLL,
            sleep=lambda s: None,
            now=emulator.store.clock(),
        )
    remaining = {i["id"] for i in emulator.store.list(200, None)["data"]}
    assert remaining == {recorded}
    about_made = [n for n in notes if made in n]
    assert len(about_made) == 1 and "keeping" not in about_made[0], notes
    assert (
        about_made[0]
        == f"interrupted create: {made} completed, but {recorded} holds the key; deleted {made} as a duplicate"
    )
