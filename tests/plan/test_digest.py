"""The plan digest: the same changes give the same digest; any change to what apply would do moves it;
and `apply --expect-digest` applies only the plan that was reviewed."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reconciler.plan.digest import plan_digest
from reconciler.plan.model import Reference
from reconciler.plan.planner import build_plan
from reconciler.render.plan_markdown import DIGEST_MARKER, MARKER
from tests.apply.test_brownfield import _cli, _lock, _managed, _remote, _write
from tests.plan.test_planner import NOW, desired, lock_of, manifest, remote


def _plan(**title):
    m = manifest(["a", "b"])
    m.imports["a"] = replace(m.imports["a"], title=title.get("a", "new title"))
    return build_plan(m, [remote("a"), remote("b")], lock_of(["a", "b"]), now=NOW)


def test_the_same_changes_give_the_same_digest_whatever_only_informs():
    plan = _plan()
    informed = replace(plan, warnings=("x",), references=(Reference("id_a", "w", "t", "source"),), managed=99)
    assert plan_digest(plan) == plan_digest(informed) == plan_digest(_plan())
    assert re.fullmatch(r"[0-9a-f]{64}", plan_digest(plan))


def test_a_different_value_or_remote_side_moves_the_digest():
    plan = _plan()
    assert plan_digest(_plan(a="another title")) != plan_digest(plan)
    edited = [replace(remote("a"), title="edited"), remote("b")]
    drifted = build_plan(_manifest_with_title(), edited, lock_of(["a", "b"]), now=NOW)
    assert plan_digest(drifted) != plan_digest(plan)


def _manifest_with_title():
    m = manifest(["a", "b"])
    m.imports["a"] = replace(desired("a"), title="new title")
    return m


@pytest.fixture
def run(emulator, monkeypatch):
    return lambda *args: _cli(emulator, monkeypatch, *args)


def _reviewed_digest(run, manifest) -> str:
    comment = run("plan", "-f", str(manifest), "--format", "markdown").output
    return re.search(r"<!-- websets-reconciler:digest=([0-9a-f]{64}) -->", comment).group(1)


def test_apply_expect_digest_applies_the_reviewed_plan(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a"])
    _write(tmp_path, "  a: {title: Reviewed, csv: data/a.csv}\n")
    digest = _reviewed_digest(run, manifest)
    saved = run("plan", "-f", str(manifest), "--out", str(tmp_path / "p.json"))
    assert f"Plan digest: {digest}" in saved.output
    result = run("apply", "-f", str(manifest), "--auto-approve", "--expect-digest", digest)
    assert result.exit_code == 0, result.output
    assert _remote(emulator, ids["a"])["title"] == "Reviewed"


def test_apply_expect_digest_applies_nothing_when_the_plan_moved(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a"])
    _write(tmp_path, "  a: {title: Reviewed, csv: data/a.csv}\n")
    digest = _reviewed_digest(run, manifest)
    emulator.store.update(ids["a"], {"title": "Edited in the dashboard"})  # drift after the review
    before = _lock(manifest)
    result = run("apply", "-f", str(manifest), "--auto-approve", "--expect-digest", digest)
    assert result.exit_code == 1
    assert "the plan moved since it was reviewed: its digest is " in result.output
    assert f"not {digest}" in result.output and "nothing was applied" in result.output
    assert '"Edited in the dashboard" -> "Reviewed"' in result.output  # the plan apply would carry out now
    assert _remote(emulator, ids["a"])["title"] == "Edited in the dashboard"
    assert _lock(manifest) == before


@pytest.mark.parametrize("value", ["abc", "G" * 64, "0" * 63])
def test_a_malformed_digest_is_a_one_line_usage_error(run, tmp_path, value):
    manifest, _ = _managed(run, tmp_path, ["a"])
    result = run("apply", "-f", str(manifest), "--auto-approve", "--expect-digest", value)
    assert result.exit_code == 1 and "is not a plan digest" in result.output


def test_expect_digest_is_not_for_a_saved_plan(run, tmp_path):
    manifest, _ = _managed(run, tmp_path, ["a"])
    assert run("plan", "-f", str(manifest), "--out", str(tmp_path / "p.json")).exit_code == 0
    result = run("apply", str(tmp_path / "p.json"), "--expect-digest", "0" * 64)
    assert result.exit_code == 1 and result.output.startswith("Error: --expect-digest: not with a saved plan")


def test_a_moved_plan_is_written_to_the_summary_without_the_markers_of_a_reviewed_one(run, emulator, tmp_path):
    manifest, ids = _managed(run, tmp_path, ["a"])
    _write(tmp_path, "  a: {title: Reviewed, csv: data/a.csv}\n")
    digest = _reviewed_digest(run, manifest)
    emulator.store.update(ids["a"], {"title": "Edited in the dashboard"})
    summary = tmp_path / "summary.md"
    args = ["apply", "-f", str(manifest), "--auto-approve", "--expect-digest", digest, "--summary", str(summary)]
    assert run(*args).exit_code == 1
    text = summary.read_text()
    assert "### websets-reconciler: the plan moved since it was reviewed; nothing was applied" in text
    assert "Edited in the dashboard" in text and "Plan digest: `" in text and digest not in text
    # A script looking for the reviewed plan's comment and digest never takes this one for it.
    assert MARKER not in text and DIGEST_MARKER not in text
