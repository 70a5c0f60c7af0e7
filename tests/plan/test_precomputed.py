"""Changes worked out while the listing arrives (`Precomputed`) never change the plan: it is the plan
built from nothing, whatever the pages, the time, or a listing read again in between."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import Manifest
from reconciler.plan.model import Action, Reason
from reconciler.plan.planner import Precomputed, build_plan
from reconciler.render.plan_json import render_json
from tests.plan.test_planner import NOW, desired, lock_of, manifest, remote
from tests.plan.test_planner_properties import scenarios


def planned(manifest, remote, lock, now=NOW, precomputed=None):
    """The plan as JSON, or the refusal's message."""
    try:
        return render_json(build_plan(manifest, remote, lock, now=now, precomputed=precomputed))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.integers(min_value=1, max_value=4), st.sampled_from([NOW, NOW + 7200.0]))
def test_a_plan_is_the_same_with_or_without_changes_worked_out_ahead(scenario, page, now):
    manifest, remote, lock = scenario
    precomputed = Precomputed(manifest, lock)
    for start in range(0, len(remote), page):
        precomputed.add(remote[start : start + page])
    assert planned(manifest, remote, lock, now, precomputed) == planned(manifest, remote, lock, now)


def test_changes_worked_out_for_other_imports_or_another_manifest_are_not_used():
    keys = ["a", "b"]
    listed = [remote(k) for k in keys]
    precomputed = Precomputed(manifest(keys), lock_of(keys))
    precomputed.add(listed)
    # The same ids read again (as apply does before it runs): now one failed and one has a new title.
    again = [replace(listed[0], status="failed"), replace(listed[1], title="renamed")]
    plan = build_plan(manifest(keys), again, lock_of(keys), now=NOW, precomputed=precomputed)
    assert [(c.key, c.action, c.reason) for c in plan.changes] == [
        ("a", Action.REPLACE, Reason.REMOTE_FAILED),
        ("b", Action.UPDATE, Reason.ATTRIBUTES_CHANGED),
    ]
    other = Manifest("websets.yaml", "o", manifest(keys).safety, {k: desired(k, sha="b" * 64) for k in keys})
    plan = build_plan(other, listed, lock_of(keys), now=NOW, precomputed=precomputed)
    assert {c.reason for c in plan.changes} == {Reason.CSV_CHANGED}


@pytest.mark.parametrize(("now", "action"), [(NOW, Action.NOOP), (NOW + 7200.0, Action.REPLACE)])
def test_a_pending_import_is_judged_at_the_time_of_the_plan(now, action):
    # Created 46 minutes before NOW: its upload window is open at NOW, and closed two hours later.
    pending = replace(remote("a"), status="pending", created_at="2030-03-17T17:00:00Z")
    precomputed = Precomputed(manifest(["a"]), lock_of(["a"]))
    precomputed.add([pending])
    plan = build_plan(manifest(["a"]), [pending], lock_of(["a"]), now=now, precomputed=precomputed)
    assert plan.changes[0].action is action
