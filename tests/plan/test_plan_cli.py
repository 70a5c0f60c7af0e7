"""`plan` through the CLI against the emulator: request counts, the lockfile cases, options, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.conftest import API_KEY, load_schema
from tests.plan.helpers import seed, write_manifest


@pytest.fixture
def run(emulator, monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_plan_over_1000_managed_imports_lists_5_times_and_nothing_else(run, emulator, tmp_path):
    keys = [f"k{i:04d}" for i in range(1000)]
    manifest = write_manifest(tmp_path, keys)
    for key in keys:
        seed(emulator, key)
    result = run("plan", "-f", str(manifest))
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    assert "Lockfile: 1000 import(s) found by their ownership stamps" in result.output
    requests = [(e["method"], e["path"], e["query"].get("limit")) for e in emulator.request_log]
    assert requests == [("GET", "/websets/v0/imports", "200")] * 5
    assert not (tmp_path / "websets.lock").exists()  # plan writes nothing


def test_unmanaged_and_foreign_imports_are_counted(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a"])
    seed(emulator, "a")
    seed(emulator, "x", stamped=False)
    seed(emulator, "a", owner="sales")
    result = run("plan", "-f", str(manifest), "--json")
    body = json.loads(result.output)
    assert (body["managed"], body["unmanaged"], body["summary"]["noop"]) == (1, 2, 1)


def test_lockfile_of_another_owner(run, tmp_path):
    manifest = write_manifest(tmp_path, ["a"])
    (tmp_path / "websets.lock").write_text(
        json.dumps({"version": 1, "owner": "sales", "lineage": "x", "serial": 1, "imports": {}, "journal": []})
    )
    result = run("plan", "-f", str(manifest))
    assert result.exit_code == 1
    assert "belongs to owner 'sales', but the manifest's owner is 'growth'" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": 1,\n  "owner": }', "websets.lock:2:12: the lockfile is corrupt: Expecting value"),
        ('{"version": 1}', "the lockfile is corrupt: (top level): 'owner' is a required property"),
        (
            '{"version": 1, "owner": "growth", "lineage": "x", "serial": -1, "imports": {}, "journal": []}',
            "the lockfile is corrupt: serial: -1 is less than the minimum of 0",
        ),
    ],
)
def test_corrupted_lockfile(run, tmp_path, text, message):
    manifest = write_manifest(tmp_path, ["a"])
    (tmp_path / "websets.lock").write_text(text)
    result = run("plan", "-f", str(manifest))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_lockfile_entries_but_nothing_managed_aborts(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a"])
    seed(emulator, "z", stamped=False)
    lock = {
        "version": 1,
        "owner": "growth",
        "lineage": "x",
        "serial": 3,
        "journal": [],
        "imports": {
            "a": {
                "id": "import_gone",
                "title": "T a",
                "entity": {"type": "company"},
                "metadata": {},
                "protected": False,
                "csv": {"path": "data.csv", "sha256": "0" * 64, "size": 1, "records": 1, "columns": 2, "identifier": 0},
            }
        },
    }
    (tmp_path / "websets.lock").write_text(json.dumps(lock))
    result = run("plan", "-f", str(manifest))
    assert result.exit_code == 1
    assert "refusing to plan" in result.output


def test_missing_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv("EXA_API_KEY", raising=False)
    manifest = write_manifest(tmp_path, ["a"])
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "EXA_API_KEY"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: EXA_API_KEY is not set: export your Exa API key (plan and apply need it)"


@pytest.mark.parametrize("url", ["http://api.example.com", "ftp://127.0.0.1", "http://10.0.0.1:8000"])
def test_plain_http_refused_except_loopback(run, tmp_path, monkeypatch, url):
    monkeypatch.setenv("EXA_BASE_URL", url)
    result = run("plan", "-f", str(write_manifest(tmp_path, ["a"])))
    assert result.exit_code == 1
    assert "EXA_BASE_URL" in result.output


def test_detailed_exitcode_and_summary_line(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a", "b"])
    seed(emulator, "a")
    changed = run("plan", "-f", str(manifest), "--detailed-exitcode")
    assert changed.exit_code == 2
    assert changed.output.splitlines()[-1] == "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete."
    seed(emulator, "b")
    same = run("plan", "-f", str(manifest), "--detailed-exitcode")
    assert same.exit_code == 0 and same.output.splitlines()[-1] == "No changes."
    assert run("plan", "-f", str(manifest)).exit_code == 0


def test_target_limits_and_unknown_target_fails(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a", "b"])
    result = run("plan", "-f", str(manifest), "--target", "b", "--json")
    assert [c["key"] for c in json.loads(result.output)["changes"]] == ["b"]
    bad = run("plan", "-f", str(manifest), "--target", "nope")
    assert bad.exit_code == 1 and "--target nope: no such key" in bad.output


def test_saved_plan_records_its_basis(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a", "b"])
    a = seed(emulator, "a", title="old")
    out = tmp_path / "plan.json"
    result = run("plan", "-f", str(manifest), "--out", str(out))
    assert f"Saved the plan to {out}" in result.output
    saved = json.loads(out.read_text())
    assert saved["kind"] == "websets-reconciler/saved-plan"
    assert set(saved["basis"]["remote"]) == {a}
    assert set(saved["basis"]["csv"]) == {"a", "b"}
    assert saved["basis"]["lock_serial"] is None
    jsonschema.validate(saved["plan"], load_schema("plan.schema.json"))
    assert saved["plan"]["summary"] == {
        **dict.fromkeys(("replace", "delete", "adopt", "move", "forget", "refresh", "noop"), 0),
        "create": 1,
        "update": 1,
    }


def test_output_never_holds_the_api_key(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a"])
    seed(emulator, "a", title="old")
    out = tmp_path / "plan.json"
    texts = [
        run("plan", "-f", str(manifest), "--format", fmt, "--out", str(out)).output
        for fmt in ("text", "markdown", "json")
    ]
    texts.append(out.read_text())
    assert all(API_KEY not in t for t in texts)


def test_no_color_when_not_a_terminal_or_no_color(run, emulator, tmp_path, monkeypatch):
    manifest = write_manifest(tmp_path, ["a"])
    assert "\x1b[" not in run("plan", "-f", str(manifest)).output
    from reconciler.cli import common as cli_module

    monkeypatch.setattr(cli_module.sys.stdout, "isatty", lambda: True, raising=False)
    assert cli_module.use_color(False) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli_module.use_color(False) is False
    monkeypatch.delenv("NO_COLOR")
    assert cli_module.use_color(True) is False


def test_plan_survives_faults_on_reads(make_emulator, tmp_path, monkeypatch):
    from reconciler.emulator import FaultConfig, Rate

    emu = make_emulator(faults=FaultConfig(seed=3, errors=Rate(0.3), throttle=Rate(0.2), retry_after=0))
    for key in ("a", "b"):
        seed(emu, key)
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emu.base_url)
    from reconciler.refresh import plan_from, read_snapshot
    from reconciler.remote.client import ApiClient

    with ApiClient.from_env(sleep=lambda s: None) as client:
        plan = plan_from(read_snapshot(str(write_manifest(tmp_path, ["a", "b"])), client))
    assert not plan.has_changes
    assert any(e["fault"] for e in emu.request_log)


def test_a_remote_title_with_a_lone_surrogate_is_drift_not_a_crash(run, emulator, tmp_path):
    manifest = write_manifest(tmp_path, ["a"])
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    (item,) = emulator.store.list(200, None)["data"]
    emulator.store.update(item["id"], {"title": "\ud800 edited"})
    for fmt in ("text", "json", "markdown"):
        result = run("plan", "-f", str(manifest), "--format", fmt, "--detailed-exitcode")
        assert result.exit_code == 2, result.output
        assert "\ufffd edited" in result.output
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    assert emulator.store.get(item["id"])["title"] == "T a"
