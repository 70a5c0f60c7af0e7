"""Adopt, move, forget, --replace and --refresh-only when a run fails, is cut short, or meets another
account: the next run converges, and the blocks stay no-ops once applied."""

from __future__ import annotations

import pytest

from reconciler.emulator import FaultConfig, Rate
from reconciler.emulator.faults import FaultInjector
from reconciler.model import STAMP_KEY, is_reserved
from tests.apply.helpers import rows
from tests.apply.test_brownfield import _assert_no_changes, _cli, _lock, _managed, _remote, _write
from tests.plan.helpers import seed


@pytest.fixture
def run(emulator, monkeypatch):
    return lambda *args: _cli(emulator, monkeypatch, *args)


def _fail(emulator, method: str, *, lose: bool = False) -> None:
    rate = Rate(1.0, frozenset({method}))
    emulator.faults = FaultInjector(FaultConfig(seed=1, lose=rate) if lose else FaultConfig(seed=1, errors=rate))


def _heal(emulator) -> None:
    emulator.faults = FaultInjector(FaultConfig())


def _ids(manifest) -> dict[str, str]:
    return {k: e["id"] for k, e in _lock(manifest)["imports"].items()}


def _live(emulator) -> set[str]:
    return {i["id"] for i in emulator.store.list(200, None)["data"]}


def test_an_adopt_left_in_the_manifest_lets_the_next_apply_finish_a_replace_whose_delete_failed(
    run, emulator, tmp_path, monkeypatch
):
    monkeypatch.setenv("WEBSETS_MAX_RPS", "0")
    existing = seed(emulator, "customers", stamped=False, content=rows(5, "c"))
    manifest = _write(
        tmp_path,
        "  customers: {csv: data/c.csv}\n",
        f"adopt:\n  - {{key: customers, id: {existing}}}\n",
        {"c.csv": rows(3, "c")},
    )
    _fail(emulator, "DELETE")
    assert run("apply", "-f", str(manifest), "--auto-approve", "--replace", "customers").exit_code == 1
    _heal(emulator)
    assert existing in _live(emulator)
    again = run("apply", "-f", str(manifest), "--auto-approve")
    assert again.exit_code == 0, again.output
    assert existing not in _live(emulator) and len(_live(emulator)) == 1
    _assert_no_changes(run, manifest)


@pytest.mark.parametrize("choice", ["replace", "merge", "merge-unset"])
def test_a_forget_whose_answer_was_lost_is_dropped_from_the_lockfile_by_the_next_run(
    make_emulator, monkeypatch, tmp_path, choice
):
    emulator = make_emulator(metadata_update=choice)
    monkeypatch.setenv("WEBSETS_MAX_RPS", "0")

    def run(*args):
        return _cli(emulator, monkeypatch, *args)

    manifest, ids = _managed(run, tmp_path, ["keep", "old"])
    _write(tmp_path, "  keep: {title: T, csv: data/keep.csv}\n", "removed:\n  - {key: old}\n")
    _fail(emulator, "PATCH", lose=True)
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 1
    _heal(emulator)
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0, plan.output
    applied = run("apply", "-f", str(manifest), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert set(_ids(manifest)) == {"keep"}
    assert not any(v for k, v in _remote(emulator, ids["old"])["metadata"].items() if is_reserved(k))
    _assert_no_changes(run, manifest)


def test_refresh_only_with_the_key_of_another_account_is_refused_and_keeps_the_lockfile(
    make_emulator, monkeypatch, tmp_path
):
    ours = make_emulator()
    manifest, ids = _managed(lambda *a: _cli(ours, monkeypatch, *a), tmp_path, ["a", "b"])
    other = make_emulator()
    result = _cli(other, monkeypatch, "apply", "-f", str(manifest), "--refresh-only", "--auto-approve")
    assert result.exit_code == 1
    assert "the listing holds none of the 2 imports the lockfile records" in result.output
    assert _ids(manifest) == ids


@pytest.mark.parametrize("how", ["--replace", "csv"])
def test_a_move_that_is_also_a_replace_records_only_the_new_key(run, emulator, tmp_path, how):
    manifest, ids = _managed(run, tmp_path, ["a", "keep"])
    if how == "csv":
        (tmp_path / "data" / "a.csv").write_text(rows(5, "zz"))
    _write(
        tmp_path,
        "  b: {title: T, csv: data/a.csv}\n  keep: {title: T, csv: data/keep.csv}\n",
        "moved:\n  - {from: a, to: b}\n",
    )
    extra = ["--replace", "b"] if how == "--replace" else []
    assert run("apply", "-f", str(manifest), "--auto-approve", *extra).exit_code == 0
    recorded = _ids(manifest)
    assert set(recorded) == {"b", "keep"} and recorded["b"] != ids["a"]
    assert _live(emulator) == set(recorded.values())
    _assert_no_changes(run, manifest)


@pytest.mark.parametrize("excluded", ["a", "b"])
def test_excluding_either_key_of_a_move_leaves_it_alone(run, emulator, tmp_path, excluded):
    manifest, ids = _managed(run, tmp_path, ["a"])
    _write(tmp_path, "  b: {title: T, csv: data/a.csv}\n", "moved:\n  - {from: a, to: b}\n")
    result = run("apply", "-f", str(manifest), "--auto-approve", "--exclude", excluded)
    assert result.exit_code == 0, result.output
    assert _remote(emulator, ids["a"])["metadata"][STAMP_KEY] == "a"
    assert _ids(manifest) == {"a": ids["a"]}


def test_a_move_whose_replace_is_still_processing_plans_and_then_converges(run, emulator, clock, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a"])
    emulator.store.processing_delay = 600.0
    (tmp_path / "data" / "a.csv").write_text(rows(5, "zz"))
    _write(tmp_path, "  b: {title: T, csv: data/a.csv}\n", "moved:\n  - {from: a, to: b}\n")
    assert run("apply", "-f", str(manifest), "--auto-approve", "--no-wait").exit_code == 0
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0, plan.output
    assert ids["a"] in _live(emulator)
    clock.advance(601)
    finished = run("apply", "-f", str(manifest), "--auto-approve")
    assert finished.exit_code == 0, finished.output
    assert set(_ids(manifest)) == {"b"} and ids["a"] not in _live(emulator) and len(_live(emulator)) == 1
    _assert_no_changes(run, manifest)


def test_refresh_only_drops_an_import_stamped_with_another_owner_in_the_dashboard(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a", "b"])
    metadata = dict(_remote(emulator, ids["a"])["metadata"])
    metadata["websets-reconciler/owner"] = "finance"
    emulator.store.update(ids["a"], {"metadata": metadata})
    plan = run("plan", "-f", str(manifest), "--refresh-only")
    assert plan.exit_code == 0, plan.output
    assert "no longer stamped with this owner" in plan.output
    assert run("apply", "-f", str(manifest), "--auto-approve", "--refresh-only").exit_code == 0
    assert _ids(manifest) == {"b": ids["b"]}


def test_refresh_only_refuses_a_target_that_matches_no_key(run, emulator, tmp_path):
    manifest, _ = _managed(run, tmp_path, ["a"])
    result = run("plan", "-f", str(manifest), "--refresh-only", "--target", "zz*")
    assert result.exit_code == 1 and "--target zz*: no such key" in result.output


def test_a_targeted_plan_beside_a_pending_move_promises_no_record_it_will_not_make(run, emulator, tmp_path):
    manifest, _ = _managed(run, tmp_path, ["a", "keep"])
    _write(
        tmp_path,
        "  b: {title: T, csv: data/a.csv}\n  keep: {title: T, csv: data/keep.csv}\n",
        "moved:\n  - {from: a, to: b}\n",
    )
    plan = run("plan", "-f", str(manifest), "--target", "keep")
    assert plan.exit_code == 0 and "found by their ownership stamps" not in plan.output, plan.output


def test_a_key_stamp_no_manifest_could_hold_claims_no_key(run, emulator, tmp_path):
    manifest, _ = _managed(run, tmp_path, ["a"])
    stray = seed(emulator, "x\n# injected", content=rows(1, "x"))
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0 and "injected" not in plan.output, plan.output
    assert "1 unmanaged import(s) not touched." in plan.output
    assert stray in _live(emulator)
