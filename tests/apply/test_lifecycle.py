"""apply through the CLI against the emulator: the whole lifecycle, each step followed by an empty plan."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.apply.helpers import assert_converged, assert_no_secrets, rows, write_files
from tests.conftest import API_KEY


@pytest.fixture
def run(emulator, monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)

    def invoke(*args: str, stdin: str | None = None):
        return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)

    return invoke


def _no_changes(run, manifest) -> None:
    result = run("plan", "-f", str(manifest), "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "No changes."


def test_whole_lifecycle(run, emulator, tmp_path):
    files = {"a": rows(2, "a"), "b": rows(3, "b"), "c": rows(1, "c")}
    manifest = write_files(tmp_path, files)
    created = run("apply", "-f", str(manifest), "--auto-approve")
    assert created.exit_code == 0, created.output
    assert created.output.splitlines()[-1] == "Apply complete: 3 created, 0 updated, 0 replaced, 0 deleted."
    assert_converged(emulator, manifest, files)
    _no_changes(run, manifest)

    write_files(tmp_path, files, titles={"a": "Renamed a"})
    text = manifest.read_text().replace("{title: Title b,", "{title: Title b, metadata: {source: crm},")
    manifest.write_text(text)
    updated = run("apply", "-f", str(manifest), "--auto-approve")
    assert updated.output.splitlines()[-1] == "Apply complete: 0 created, 2 updated, 0 replaced, 0 deleted."
    ids_before = {i["title"]: i["id"] for i in emulator.store.list(200, None)["data"]}
    assert "Renamed a" in ids_before
    _no_changes(run, manifest)

    files["c"] = rows(4, "c2")
    (tmp_path / "data" / "c.csv").write_text(files["c"])
    replaced = run("apply", "-f", str(manifest), "--auto-approve")
    assert replaced.output.splitlines()[-1] == "Apply complete: 0 created, 0 updated, 1 replaced, 0 deleted."
    assert_converged(emulator, manifest, files)
    assert ids_before["Title c"] not in {i["id"] for i in emulator.store.list(200, None)["data"]}
    _no_changes(run, manifest)

    del files["b"]
    manifest.write_text(
        "\n".join(line for line in manifest.read_text().splitlines() if not line.startswith("  b:")) + "\n"
    )
    deleted = run("apply", "-f", str(manifest), "--auto-approve")
    assert deleted.output.splitlines()[-1] == "Apply complete: 0 created, 0 updated, 0 replaced, 1 deleted."
    assert_converged(emulator, manifest, files)
    _no_changes(run, manifest)
    lock_text = (tmp_path / "websets.lock").read_text()
    assert API_KEY not in lock_text and "uploads" not in lock_text


def test_no_output_or_file_holds_the_key_or_an_upload_url(run, emulator, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(1, "a"), "b": rows(2, "b")})
    outputs = [run("apply", "-f", str(manifest), "--auto-approve", "--summary", str(tmp_path / "s.md")).output]
    (tmp_path / "data" / "a.csv").write_text(rows(2, "a2"))
    outputs.append(run("apply", "-f", str(manifest), "--auto-approve", "--json").output)
    outputs.append(run("plan", "-f", str(manifest), "--json").output)
    files = [(tmp_path / name).read_text() for name in ("websets.lock", "s.md")]
    assert sum(e.get("kind") == "create" for e in emulator.request_log) == 3
    assert_no_secrets(emulator, outputs + files)


def test_apply_without_a_terminal_needs_auto_approve(run, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(1)})
    result = run("apply", "-f", str(manifest))
    assert result.exit_code == 1
    assert "refusing to apply without confirmation: not a terminal; pass --auto-approve" in result.output
    assert not (tmp_path / "websets.lock.held").exists()


def test_saved_plan_applies_exactly_and_refuses_when_stale(run, emulator, tmp_path):
    files = {"a": rows(1, "a"), "b": rows(1, "b")}
    manifest = write_files(tmp_path, files)
    run("apply", "-f", str(manifest), "--auto-approve")
    write_files(tmp_path, files, titles={"a": "New a"})
    plan_file = tmp_path / "plan.json"
    run("plan", "-f", str(manifest), "--out", str(plan_file))
    (tmp_path / "data" / "b.csv").write_text(rows(2, "b"))
    stale = run("apply", str(plan_file))
    assert stale.exit_code == 1
    assert "Saved plan is stale" in stale.output and "data/b.csv changed on disk" in stale.output

    (tmp_path / "data" / "b.csv").write_text(files["b"])
    a_id = next(i["id"] for i in emulator.store.list(200, None)["data"] if i["title"] == "Title a")
    emulator.store.update(a_id, {"title": "touched in the dashboard"})
    moved = run("apply", str(plan_file))
    assert moved.exit_code == 1 and f"import {a_id} changed remotely" in moved.output

    run("apply", "-f", str(manifest), "--auto-approve")  # converge, which moves the lock serial
    run("plan", "-f", str(manifest), "--out", str(plan_file))
    write_files(tmp_path, files, titles={"a": "Newer a"})
    run("apply", "-f", str(manifest), "--auto-approve")
    serial = run("apply", str(plan_file))
    assert serial.exit_code == 1 and "the lockfile moved (serial" in serial.output

    run("plan", "-f", str(manifest), "--out", str(plan_file))
    fresh = run("apply", str(plan_file))
    assert fresh.exit_code == 0 and "Apply complete: 0 created, 0 updated" in fresh.output


def test_unsafe_plan_needs_force(run, emulator, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(1)})
    manifest.write_text(manifest.read_text().replace("{title: Title a,", "{protected: true, title: Title a,"))
    run("apply", "-f", str(manifest), "--auto-approve")
    (tmp_path / "data" / "a.csv").write_text(rows(2))
    refused = run("apply", "-f", str(manifest), "--auto-approve")
    assert refused.exit_code == 1
    assert "the plan is unsafe (a is protected and would be replaced); re-run with --force" in refused.output
    forced = run("apply", "-f", str(manifest), "--auto-approve", "--force")
    assert forced.exit_code == 0 and "1 replaced" in forced.output


def test_failed_processing_keeps_the_old_import_and_reports(run, emulator, tmp_path):
    files = {"a": rows(2, "a")}
    manifest = write_files(tmp_path, files)
    run("apply", "-f", str(manifest), "--auto-approve")
    old_id = emulator.store.list(200, None)["data"][0]["id"]
    new_content = rows(3, "z")
    (tmp_path / "data" / "a.csv").write_text(new_content)

    upload = emulator.store.upload

    def corrupting_upload(token, content):
        # The upload host stores the file without its identifier values (same size): processing fails.
        return upload(token, re.sub(rb"https://\S+?\.example", lambda m: b" " * len(m.group()), content))

    emulator.store.upload = corrupting_upload
    result = run("apply", "-f", str(manifest), "--auto-approve", "--json")
    emulator.store.upload = upload
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["status"] == "failed"
    (failure,) = body["failures"]
    assert (
        failure["key"] == "a"
        and "missing_identifier" in failure["message"]
        and f"{old_id} is kept" in failure["message"]
    )
    remaining = emulator.store.list(200, None)["data"]
    assert [i["id"] for i in remaining] == [old_id]  # the failed new import was cleaned up
    assert "1 action(s) failed; the progress made was saved" in result.stderr


def test_no_wait_leaves_processing_and_next_apply_finishes(run, make_emulator, tmp_path, monkeypatch, clock):
    emulator = make_emulator(clock=clock, processing_delay=60)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    files = {"a": rows(1)}
    manifest = write_files(tmp_path, files)
    result = run("apply", "-f", str(manifest), "--auto-approve", "--no-wait")
    assert result.exit_code == 0
    assert "Still processing: a" in result.output
    plan = run("plan", "-f", str(manifest))
    assert "a: import" in plan.output and "is still processing" in plan.output
    clock.advance(61)
    assert_converged(emulator, manifest, files)
