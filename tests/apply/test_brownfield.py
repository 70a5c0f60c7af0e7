"""Bringing existing imports under management, end to end against the emulator: adopt, moved, removed,
--replace, --target/--exclude globs and --refresh-only, each followed by a plan that shows no changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.lockfile import parse_lock
from reconciler.model import STAMP_KEY, STAMP_OWNER, is_reserved
from tests.apply.helpers import rows
from tests.conftest import API_KEY
from tests.plan.helpers import seed


def _cli(emulator, monkeypatch, *args: str):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def run(emulator, monkeypatch):
    return lambda *args: _cli(emulator, monkeypatch, *args)


def _write(root: Path, imports: str, blocks: str = "", csvs: dict[str, str] | None = None) -> Path:
    (root / "data").mkdir(exist_ok=True)
    for name, content in (csvs or {}).items():
        (root / "data" / name).write_text(content)
    manifest = root / "websets.yaml"
    manifest.write_text(
        "version: 1\nowner: growth\ndefaults: {entity: {type: company}}\n"
        "safety: {max_delete_percent: 100, max_replace_percent: 100}\n"
        f"imports:\n{imports}{blocks}"
        "lock: {backend: file}\n"  # the requests these tests count are the imports' own
    )
    return manifest


def _lock(manifest: Path) -> dict:
    return json.loads((manifest.parent / "websets.lock").read_text())


def _remote(emulator, import_id: str) -> dict:
    return emulator.store.get(import_id)


def _assert_no_changes(run, manifest: Path) -> str:
    result = run("plan", "-f", str(manifest), "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "No changes."
    return result.output


# -- adopt --------------------------------------------------------------------------------------------


def test_adopting_a_matching_import_patches_its_stamps_and_uploads_nothing(run, emulator, tmp_path):
    csv = rows(3, "c")
    existing = seed(emulator, "customers", stamped=False, title="Customers", content=csv, metadata={"team": "x"})
    manifest = _write(
        tmp_path,
        "  customers: {title: Key customers, csv: data/c.csv, metadata: {team: x}}\n",
        f"adopt:\n  - {{key: customers, id: {existing}}}\n",
        {"c.csv": csv},
    )
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0, plan.output
    assert f"<= adopt customers ({existing})" in plan.output
    before = len(emulator.request_log)
    applied = run("apply", "-f", str(manifest), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    sent = [e["method"] for e in emulator.request_log[before:]]
    assert "POST" not in sent and "PUT" not in sent and "DELETE" not in sent and "PATCH" in sent
    remote = _remote(emulator, existing)
    assert remote["title"] == "Key customers"
    assert remote["metadata"][STAMP_OWNER] == "growth" and remote["metadata"][STAMP_KEY] == "customers"
    assert _lock(manifest)["imports"]["customers"]["id"] == existing
    _assert_no_changes(run, manifest)


def test_adopting_an_import_that_does_not_match_is_a_plan_error_naming_both_values(run, emulator, tmp_path):
    existing = seed(emulator, "customers", stamped=False, content=rows(5, "c"))
    manifest = _write(
        tmp_path,
        "  customers: {csv: data/c.csv}\n",
        f"adopt:\n  - {{key: customers, id: {existing}}}\n",
        {"c.csv": rows(3, "c")},
    )
    result = run("plan", "-f", str(manifest))
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert f"adopt customers: import {existing} does not match the manifest: records: remote 5," in line
    assert "--replace customers" in line


def test_adopting_a_mismatch_with_replace_adopts_then_replaces_in_one_apply(run, emulator, tmp_path):
    existing = seed(emulator, "customers", stamped=False, content=rows(5, "c"))
    csv = rows(3, "c")
    manifest = _write(
        tmp_path,
        "  customers: {csv: data/c.csv}\n",
        f"adopt:\n  - {{key: customers, id: {existing}}}\n",
        {"c.csv": csv},
    )
    applied = run("apply", "-f", str(manifest), "--auto-approve", "--replace", "customers")
    assert applied.exit_code == 0, applied.output
    new_id = _lock(manifest)["imports"]["customers"]["id"]
    assert new_id != existing
    assert emulator.store.uploaded_file(new_id) == csv.encode()
    assert all(i["id"] != existing for i in emulator.store.list(200, None)["data"])
    _assert_no_changes(run, manifest)


def test_adopting_another_owners_import_is_refused(run, emulator, tmp_path):
    theirs = seed(emulator, "customers", owner="finance", content=rows(3, "c"))
    manifest = _write(
        tmp_path,
        "  customers: {csv: data/c.csv}\n",
        f"adopt:\n  - {{key: customers, id: {theirs}}}\n",
        {"c.csv": rows(3, "c")},
    )
    result = run("apply", "-f", str(manifest), "--auto-approve", "--replace", "customers")
    assert result.exit_code == 1
    assert f"import {theirs} is stamped with owner 'finance'" in result.output
    assert _remote(emulator, theirs)["metadata"][STAMP_OWNER] == "finance"


def test_an_import_without_csv_is_adopted_and_managed_by_title_and_metadata(run, emulator, tmp_path):
    existing = seed(emulator, "old", stamped=False, title="Legacy list", content=rows(4, "l"))
    manifest = _write(tmp_path, "  legacy: {title: Legacy list}\n", f"adopt:\n  - {{key: legacy, id: {existing}}}\n")
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    entry = _lock(manifest)["imports"]["legacy"]
    assert entry["csv"]["records"] == 4 and entry["csv"]["sha256"] is None
    _assert_no_changes(run, manifest)
    _write(tmp_path, "  legacy: {title: Renamed list}\n", f"adopt:\n  - {{key: legacy, id: {existing}}}\n")
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    assert _remote(emulator, existing)["title"] == "Renamed list"
    _assert_no_changes(run, manifest)


# -- moved ----------------------------------------------------------------------------------------------


def _managed(run, tmp_path, keys: list[str]) -> tuple[Path, dict[str, str]]:
    csvs = {f"{k}.csv": rows(2, k) for k in keys}
    manifest = _write(tmp_path, "".join(f"  {k}: {{title: T, csv: data/{k}.csv}}\n" for k in keys), "", csvs)
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    return manifest, {k: e["id"] for k, e in _lock(manifest)["imports"].items()}


def test_a_moved_key_keeps_its_import_and_the_lockfile_entry_moves(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["prospects"])
    _write(
        tmp_path,
        "  prospects-emea: {title: T, csv: data/prospects.csv}\n",
        "moved:\n  - {from: prospects, to: prospects-emea}\n",
    )
    plan = run("plan", "-f", str(manifest))
    assert "prospects -> prospects-emea (moved)" in plan.output, plan.output
    before = len(emulator.request_log)
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    assert {e["method"] for e in emulator.request_log[before:]} <= {"GET", "PATCH"}
    assert {k: e["id"] for k, e in _lock(manifest)["imports"].items()} == {"prospects-emea": ids["prospects"]}
    assert _remote(emulator, ids["prospects"])["metadata"][STAMP_KEY] == "prospects-emea"
    _assert_no_changes(run, manifest)


def test_a_chain_of_moves_lands_on_its_last_key(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a"])
    _write(tmp_path, "  c: {title: T, csv: data/a.csv}\n", "moved:\n  - {from: a, to: b}\n  - {from: b, to: c}\n")
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    assert {k: e["id"] for k, e in _lock(manifest)["imports"].items()} == {"c": ids["a"]}
    _assert_no_changes(run, manifest)


@pytest.mark.parametrize(
    ("imports", "moved", "message"),
    [
        ("  a: {csv: data/a.csv}\n  b: {csv: data/a.csv}\n", "  - {from: a, to: b}\n", "still"),
        ("  a: {csv: data/a.csv}\n", "  - {from: x, to: y}\n", "y"),
        ("  a: {csv: data/a.csv}\n", "  - {from: x, to: y}\n  - {from: y, to: x}\n", "cycle"),
    ],
)
def test_a_moved_block_that_cannot_resolve_is_a_validate_error(run, tmp_path, imports, moved, message):
    manifest = _write(tmp_path, imports, "moved:\n" + moved, {"a.csv": rows(1)})
    result = run("validate", "-f", str(manifest))
    assert result.exit_code == 1
    assert "websets.yaml:" in result.output and "moved[" in result.output and message in result.output


# -- removed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["replace", "merge", "merge-unset"])
def test_a_removed_key_loses_our_stamps_and_its_entry_and_is_then_left_alone(
    make_emulator, monkeypatch, tmp_path, choice
):
    emulator = make_emulator(metadata_update=choice)

    def run(*args):
        return _cli(emulator, monkeypatch, *args)

    manifest, ids = _managed(run, tmp_path, ["keep", "old-list"])
    _write(tmp_path, "  keep: {title: T, csv: data/keep.csv}\n", "removed:\n  - {key: old-list}\n")
    plan = run("plan", "-f", str(manifest))
    assert "forget old-list" in plan.output, plan.output
    applied = run("apply", "-f", str(manifest), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    said = {
        "replace": "the import is kept\n",
        "merge": "the stamps were sent empty and are left empty (no owner claims an empty stamp)",
        "merge-unset": "the stamps were sent empty, which removed them",
    }[choice]
    assert said in applied.output
    kept = _remote(emulator, ids["old-list"])
    assert kept["status"] == "completed"
    assert not any(v for k, v in kept["metadata"].items() if is_reserved(k))
    assert set(_lock(manifest)["imports"]) == {"keep"}
    output = _assert_no_changes(run, manifest)
    assert "1 unmanaged import(s) not touched." in output


# -- targeting ------------------------------------------------------------------------------------------


def test_target_and_exclude_globs_limit_the_apply(run, emulator, tmp_path):
    keys = ["prospects-emea", "prospects-us", "customers"]
    csvs = {f"{k}.csv": rows(1, k) for k in keys}
    manifest = _write(tmp_path, "".join(f"  {k}: {{csv: data/{k}.csv}}\n" for k in keys), "", csvs)
    result = run("apply", "-f", str(manifest), "--auto-approve", "--target", "prospects-*", "--exclude", "*-us")
    assert result.exit_code == 0, result.output
    assert set(_lock(manifest)["imports"]) == {"prospects-emea"}
    typo = run("plan", "-f", str(manifest), "--target", "prospect-*")
    assert typo.exit_code == 1 and "--target prospect-*: no such key" in typo.output


def test_replace_forces_a_new_import_for_a_key_in_sync(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a"])
    plan = run("plan", "-f", str(manifest), "--replace", "a")
    assert "a replace was requested with --replace" in plan.output
    assert run("apply", "-f", str(manifest), "--auto-approve", "--replace", "a").exit_code == 0
    new_id = _lock(manifest)["imports"]["a"]["id"]
    assert new_id != ids["a"]
    assert [i["id"] for i in emulator.store.list(200, None)["data"]] == [new_id]
    _assert_no_changes(run, manifest)


def test_refresh_only_records_dashboard_edits_and_deletions_without_changing_the_remote(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a", "b"])
    emulator.store.update(ids["a"], {"title": "Edited in the dashboard"})
    emulator.store.delete(ids["b"])
    plan = run("plan", "-f", str(manifest), "--refresh-only")
    assert plan.exit_code == 0, plan.output
    assert "Edited in the dashboard" in plan.output
    before = len(emulator.request_log)
    applied = run("apply", "-f", str(manifest), "--auto-approve", "--refresh-only")
    assert applied.exit_code == 0, applied.output
    assert {e["method"] for e in emulator.request_log[before:]} == {"GET"}
    lock = _lock(manifest)
    assert set(lock["imports"]) == {"a"} and lock["imports"]["a"]["title"] == "Edited in the dashboard"
    parse_lock(json.dumps(lock), "websets.lock")
    # The manifest still wins on the next plain apply: the title is set back, b is made again.
    after = run("plan", "-f", str(manifest))
    assert "origin: manifest" in after.output


def test_a_move_whose_lockfile_record_was_lost_is_recorded_once_under_its_new_key(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["prospects"])
    before_move = (tmp_path / "websets.lock").read_text()
    _write(
        tmp_path,
        "  prospects-emea: {title: T, csv: data/prospects.csv}\n",
        "moved:\n  - {from: prospects, to: prospects-emea}\n",
    )
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    (tmp_path / "websets.lock").write_text(before_move)  # the PATCH landed; its record did not
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0 and "no longer exists" not in plan.output, plan.output
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    assert {k: e["id"] for k, e in _lock(manifest)["imports"].items()} == {"prospects-emea": ids["prospects"]}
    _assert_no_changes(run, manifest)


def test_dump_then_plan_shows_only_adopts_and_apply_only_patches_thirty_dashboard_imports(run, emulator, tmp_path):
    titles = [f"Account list {i % 10}" for i in range(25)] + ["EMEA: yes", "null", "# hash", "1.0", "Ünïcode"]
    made = [
        seed(emulator, f"k{i}", stamped=False, title=title, content=rows(1 + i % 4, str(i)), metadata={"n": str(i)})
        for i, title in enumerate(titles)
    ]
    other = seed(emulator, "theirs", owner="finance")
    manifest = tmp_path / "websets.yaml"
    dumped = run("dump", "--owner", "growth", "--out", str(manifest))
    assert dumped.exit_code == 0, dumped.output
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0, plan.output
    assert plan.output.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 30 to adopt."
    assert "1 unmanaged import(s) not touched." in plan.output  # the other owner's
    before = len(emulator.request_log)
    applied = run("apply", "-f", str(manifest), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    writes = [e["method"] for e in emulator.request_log[before:] if e["method"] != "GET"]
    assert writes == ["POST"] + ["PATCH"] * 30 + ["DELETE"]  # the state lock's claim, made and let go of
    assert sorted(e["id"] for e in _lock(manifest)["imports"].values()) == sorted(made)
    assert _remote(emulator, other)["metadata"][STAMP_OWNER] == "finance"
    assert {_remote(emulator, i)["title"] for i in made} == set(titles)
    _assert_no_changes(run, manifest)


def test_plan_lists_the_websets_that_use_an_import_it_replaces_or_forgets(make_emulator, monkeypatch, tmp_path):
    emulator = make_emulator()

    def run(*args):
        return _cli(emulator, monkeypatch, *args)

    manifest, ids = _managed(run, tmp_path, ["a", "b", "c"])
    emulator.websets.add(
        {
            "id": "webset_1",
            "title": "Lookalikes",
            "imports": [ids["a"]],
            "excludes": [{"source": "import", "id": ids["b"]}],
        }
    )
    _write(tmp_path, "  a: {title: T, csv: data/a.csv}\n  c: {title: T, csv: data/c.csv}\n", "removed:\n  - {key: b}\n")
    plan = run("plan", "-f", str(manifest), "--replace", "a", "--format", "markdown")
    assert plan.exit_code == 0, plan.output
    assert '`webset_1` "Lookalikes" (source)' in plan.output and '`webset_1` "Lookalikes" (exclusion)' in plan.output
    text = run("plan", "-f", str(manifest), "--replace", "a")
    assert 'used by webset webset_1 "Lookalikes" (source)' in text.output
    before = len(emulator.request_log)
    assert run("plan", "-f", str(manifest), "--target", "c").exit_code == 0
    # Nothing is replaced, deleted or forgotten: the websets are not read.
    assert not [e for e in emulator.request_log[before:] if "/websets/v0/websets" in e["path"]]
    assert [e for e in emulator.request_log[:before] if "/websets/v0/websets" in e["path"]]
