"""Ownership comes from the remote stamps alone: whatever the lockfile says, another owner's import, or
one without an owner stamp, is never changed or deleted."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed


@pytest.mark.parametrize(
    ("owner", "found"), [("sales", "is stamped with owner 'sales'"), (None, "carries no owner stamp")]
)
def test_a_lockfile_entry_naming_an_import_not_ours_is_refused(emulator, tmp_path, monkeypatch, owner, found):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    manifest = write_files(tmp_path, {"a": rows(2, "a"), "b": rows(1, "b")})
    run = CliRunner().invoke
    assert run(cli, ["apply", "-f", str(manifest), "--auto-approve"]).exit_code == 0
    theirs = seed(emulator, "a", owner=owner or "x", stamped=owner is not None, content=rows(3, "z"))
    lock_file = tmp_path / "websets.lock"
    lock = json.loads(lock_file.read_text())
    lock["imports"]["a"]["id"] = theirs
    lock_file.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    before = emulator.store.get(theirs)
    lock_text = lock_file.read_text()

    for args in (["plan"], ["apply", "--auto-approve"]):
        result = run(cli, [*args, "-f", str(manifest)])
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"Error: websets.lock: a records import {theirs}, which {found}; refusing to plan")
    # The same with a manifest that no longer holds the key, pruning on: still nothing is deleted.
    write_files(tmp_path, {"b": rows(1, "b")})
    assert run(cli, ["apply", "-f", str(manifest), "--auto-approve"]).exit_code == 1
    assert emulator.store.get(theirs) == before
    assert lock_file.read_text() == lock_text
