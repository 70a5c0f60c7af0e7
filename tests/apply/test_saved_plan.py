"""A saved plan applies exactly what was reviewed: its values, refused as stale when anything it was built on
moved, and never silently changed by options."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import reconciler.apply.run as run_module
from reconciler.cli import cli
from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY


@pytest.fixture
def run(emulator, monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    return lambda *args: CliRunner().invoke(cli, list(args))


def _titles(emulator) -> set[str]:
    return {i["title"] for i in emulator.store.list(200, None)["data"]}


def test_an_edit_after_the_plan_is_named_as_stale(run, emulator, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(2, "a")}, titles={"a": "Reviewed"})
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(manifest), "--out", str(plan_file)).exit_code == 0
    write_files(tmp_path, {"a": rows(2, "a")}, titles={"a": "Not reviewed"})
    result = run("apply", str(plan_file))
    assert result.exit_code == 1
    assert "Saved plan is stale: a: title changed in the manifest or its CSV since the plan was made" in result.output
    assert emulator.store.list(200, None)["data"] == []


def test_apply_sends_the_saved_plans_values(run, emulator, tmp_path, monkeypatch):
    """Even were the stale check to miss an edit, what is sent is what the saved plan shows."""
    manifest = write_files(tmp_path, {"a": rows(2, "a"), "b": rows(1, "b")}, titles={"a": "Reviewed"})
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    write_files(tmp_path, {"a": rows(2, "a"), "b": rows(1, "b")}, titles={"a": "Reviewed 2", "b": "Reviewed b"})
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(manifest), "--out", str(plan_file)).exit_code == 0
    write_files(tmp_path, {"a": rows(2, "a"), "b": rows(1, "b")}, titles={"a": "Sneaked in", "b": "Sneaked b"})
    monkeypatch.setattr(run_module, "check_stale", lambda *args: None)
    result = run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    assert _titles(emulator) == {"Reviewed 2", "Reviewed b"}


def test_options_that_would_change_a_saved_plan_are_refused(run, emulator, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(2, "a"), "b": rows(1, "b")})
    other = tmp_path / "other"
    other.mkdir()
    other_manifest = write_files(other, {"c": rows(1, "c")})
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(manifest), "--out", str(plan_file)).exit_code == 0
    refused = {
        ("--target", "a"): "--target: the saved plan",
        ("-f", str(other_manifest)): f"-f {other_manifest}: the saved plan {plan_file} was made from {manifest}",
        ("--force",): "--force: the saved plan",
    }
    for extra, message in refused.items():
        result = run("apply", str(plan_file), *extra)
        assert result.exit_code == 1, (extra, result.output)
        assert result.output.startswith(f"Error: {message}"), result.output
        assert len(result.output.strip().splitlines()) == 1
    assert emulator.store.list(200, None)["data"] == []
    # Naming the manifest the plan was made from is fine.
    assert run("apply", str(plan_file), "-f", str(manifest)).exit_code == 0
    assert len(emulator.store.list(200, None)["data"]) == 2


def test_an_unsafe_saved_plan_applies_only_when_it_was_made_with_force(run, emulator, tmp_path):
    files = {k: rows(1, k) for k in "abc"}
    manifest = write_files(tmp_path, files)
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    text = manifest.read_text().replace("max_delete_percent: 100", "max_delete_percent: 10, min_managed_for_percent: 1")
    manifest.write_text(text.replace("  b: {title: Title b, csv: data/b.csv}\n", ""))
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(manifest), "--out", str(plan_file)).exit_code == 0
    assert run("apply", str(plan_file)).exit_code == 1
    assert run("plan", "-f", str(manifest), "--force").exit_code == 1
    assert run("plan", "-f", str(manifest), "--out", str(plan_file), "--force").exit_code == 0
    assert json.loads(plan_file.read_text())["force"] is True
    result = run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    assert _titles(emulator) == {"Title a", "Title c"}


def test_a_saved_change_aimed_at_another_import_is_stale(run, emulator, tmp_path):
    """A plan file edited to name another import (here one stamped with another owner) is refused."""
    from tests.plan.helpers import seed

    manifest = write_files(tmp_path, {"a": rows(2, "a")}, titles={"a": "First"})
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    theirs = seed(emulator, "a", owner="sales", title="Theirs")
    write_files(tmp_path, {"a": rows(2, "a")}, titles={"a": "Second"})
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(manifest), "--out", str(plan_file)).exit_code == 0
    document = json.loads(plan_file.read_text())
    (change,) = document["plan"]["changes"]
    ours, change["id"] = change["id"], theirs
    plan_file.write_text(json.dumps(document))
    result = run("apply", str(plan_file))
    assert result.exit_code == 1
    assert f"a: the plan acts on import {theirs}, but {ours} now stands for the key" in result.output
    assert emulator.store.get(theirs)["title"] == "Theirs"


@pytest.mark.parametrize(
    "name", ["websets.yaml", "websets.lock", "data/a.csv", "websets.lock.journal", "websets.lock.held"]
)
def test_plan_out_never_overwrites_an_input(run, emulator, tmp_path, name):
    manifest = write_files(tmp_path, {"a": rows(2, "a")})
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    target = tmp_path / name
    before = target.read_bytes() if target.exists() else None
    result = run("plan", "-f", str(manifest), "--out", str(target))
    assert result.exit_code == 1
    assert f"--out {target}: that is an input of the plan" in result.output
    assert (target.read_bytes() if target.exists() else None) == before


def test_a_saved_plan_holding_a_change_twice_is_refused(run, emulator, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(2, "a"), "b": rows(1, "b")})
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(manifest), "--out", str(plan_file)).exit_code == 0
    document = json.loads(plan_file.read_text())
    document["plan"]["changes"].append(document["plan"]["changes"][0])
    plan_file.write_text(json.dumps(document))
    result = run("apply", str(plan_file))
    assert result.exit_code == 1
    assert "a: the plan holds more than one change for it" in result.output
    assert emulator.store.list(200, None)["data"] == []
