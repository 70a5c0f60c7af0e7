"""An import another apply may still be completing (made lately, by a create this checkout's journal does
not know) is never deleted, whatever the lock: apply says another apply seems to be running."""

from __future__ import annotations

import time

from reconciler.lockfile import parse_lock
from reconciler.model import STAMP_OPERATION
from tests.apply.helpers import apply_once, rows, write_files
from tests.apply.test_strays import _apply, _ids
from tests.conftest import FakeClock
from tests.plan.helpers import seed

HOURS = 3600.0


def _made_elsewhere(emulator, key: str, content: str) -> str:
    """An import as another apply's create makes it: stamped with an operation of its own journal."""
    made = seed(emulator, key, title=f"Title {key}", content=content)
    metadata = {**emulator.store.get(made)["metadata"], STAMP_OPERATION: "op-of-another-apply"}
    emulator.store.update(made, {"metadata": metadata})
    return made


def test_a_duplicate_another_apply_made_moments_ago_is_left_alone(make_emulator, tmp_path):
    clock = FakeClock(time.time() - 3 * HOURS)
    emulator = make_emulator(clock=clock)
    manifest = write_files(tmp_path, {"a": rows(1, "a")})
    apply_once(emulator, manifest)
    recorded = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock").imports["a"].id
    clock.advance(3 * HOURS)  # the service's clock is ours again
    # Another machine replaces a: its new import has completed, and it is about to delete the old one.
    theirs = _made_elsewhere(emulator, "a", rows(2, "a"))

    notes = _apply(emulator, manifest)
    assert any(
        f"not touching {theirs}, made under a minute ago by another apply, which seems to be running" in n
        for n in notes
    ), notes
    assert _ids(emulator) == {recorded, theirs}  # neither is deleted: the other apply finishes its replace


def test_an_orphan_another_apply_made_moments_ago_is_not_pruned(make_emulator, tmp_path):
    emulator = make_emulator(clock=FakeClock(time.time()))
    manifest = write_files(tmp_path, {"a": rows(1, "a")}, prune=True)
    apply_once(emulator, manifest)
    # A newer manifest, applied from another checkout, has a key this one does not have yet.
    theirs = _made_elsewhere(emulator, "b", rows(1, "b"))

    notes = _apply(emulator, manifest)
    assert any(
        f"b: not deleting import {theirs}: it was made under a minute ago by another apply, which seems to be "
        "running (its key is not in this manifest: is this checkout behind?)" in n
        for n in notes
    ), notes
    assert theirs in _ids(emulator)
