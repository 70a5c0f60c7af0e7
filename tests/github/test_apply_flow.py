"""The action's apply on a merge, end to end: the plan reviewed on the pull request (the comment the plan
step wrote), the merge commit in a clone of a bare repository, the emulator, and a gh stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY
from tests.github.runner import (
    TOKEN,
    bare_and_clone,
    commit_all,
    gh_state,
    git,
    install_gh,
    merged_pull,
    plan_comment,
    run_action,
)

FIND, RUN, COMMENT, RECORD = (
    "Find the plan reviewed on the merged pull request",
    "Run websets-reconciler",
    "Comment the plan that moved on the merged pull request",
    "Record websets.lock",
)
MOVED = "### websets-reconciler: the plan moved since it was reviewed; nothing was applied"


class Flow:
    """A data repository whose pull requests are planned, then merged and applied by the action."""

    def __init__(self, tmp_path: Path, emulator) -> None:
        self.emulator = emulator
        self.bare, self.clone = bare_and_clone(tmp_path)
        self.gh = install_gh(tmp_path / "bin", tmp_path / "gh.json")
        self.env = {**self.gh, "EXA_BASE_URL": emulator.base_url}

    def review(self, number: int) -> str:
        """Plan the clone's files as the plan workflow does on pull request `number`; post its comment."""
        run = run_action({"command": "plan", "api-key": API_KEY}, self.clone, self.env)
        assert run.code == 0, run.log
        body = Path(run.outputs["markdown-path"]).read_text()
        self._add("comments", plan_comment(500 + number, number, body))
        return body

    def merge(self, number: int) -> str:
        """Commit the clone's files and push them as pull request `number`'s merge; return the commit."""
        sha = commit_all(self.clone, f"Merge pull request #{number}")
        self._add("pulls", merged_pull(number, sha))
        return sha

    def apply(self, sha: str, **inputs: str):
        run = run_action(
            {"command": "apply", "api-key": API_KEY, **inputs}, self.clone, {**self.env, "GITHUB_SHA": sha}
        )
        assert TOKEN not in run.log + run.summary and API_KEY not in run.log + run.summary
        return run

    def writes(self) -> list[str]:
        """The requests that changed something on the service."""
        return [f"{e['method']} {e['path']}" for e in self.emulator.request_log if e["method"] != "GET"]

    def _add(self, kind: str, item: dict) -> None:
        state = gh_state(self.gh)
        state[kind].append(item)
        Path(self.gh["FAKE_GH_STATE"]).write_text(json.dumps(state))


@pytest.fixture
def flow(tmp_path, emulator) -> Flow:
    return Flow(tmp_path, emulator)


@pytest.mark.parametrize("mode", ["push", "pull-request"])
def test_a_merge_applies_the_reviewed_plan_and_records_the_lockfile(flow, mode):
    write_files(flow.clone, {"a": rows(2, "a"), "b": rows(1, "b")})
    digest = flow.review(12).split("<!-- websets-reconciler:digest=")[1][:64]
    merge = flow.merge(12)
    git(flow.clone, "checkout", "--quiet", "--detach", merge)

    run = flow.apply(merge, **{"lockfile-mode": mode})
    assert run.code == 0, run.log
    assert run.ran == ["Check the inputs", FIND, RUN, RECORD]
    assert (run.outputs["pull-request"], run.outputs["create"], run.outputs["plan-moved"]) == ("12", "2", "")
    assert f"Pull request #12 was merged with the reviewed plan {digest}" in run.log
    assert "**Apply complete: 2 created, 0 updated, 0 replaced, 0 deleted.**" in run.summary
    assert len([w for w in flow.writes() if w == "POST /websets/v0/imports"]) == 2
    lockfile = (flow.clone / "websets.lock").read_text()
    if mode == "push":
        assert git(flow.bare, "rev-parse", "main~1") == merge
        assert git(flow.bare, "show", "main:websets.lock") + "\n" == lockfile
    else:
        (pull,) = gh_state(flow.gh)["pulls"][1:]
        assert pull["title"] == "Record apply of #12 in websets.lock" and pull["state"] == "open"
        assert git(flow.bare, "rev-parse", "main") == merge
        assert git(flow.bare, "show", "websets-reconciler/lockfile-main:websets.lock") + "\n" == lockfile


def test_a_plan_that_moved_is_not_applied_but_commented_on_the_merged_pull_request(flow):
    write_files(flow.clone, {"a": rows(2, "a"), "b": rows(1, "b")})
    flow.review(12)
    # What is merged is not what was reviewed (say, a last push whose plan never ran).
    write_files(flow.clone, {"a": rows(3, "a"), "b": rows(1, "b")})
    merge = flow.merge(12)

    run = flow.apply(merge, **{"lockfile-mode": "push"})
    assert run.code == 1
    assert run.ran == ["Check the inputs", FIND, RUN, COMMENT, RECORD]
    assert run.outputs["plan-moved"] == "true" and run.outputs["exit-code"] == "1"
    assert "Error: the plan moved since it was reviewed: its digest is " in run.log
    assert (
        "::error::the plan moved since it was reviewed on #12: nothing was applied; the plan apply would carry out now is commented there for review"
        in run.log
    )
    assert flow.writes() == []  # nothing was applied
    moved = [c for c in gh_state(flow.gh)["comments"] if c["issue"] == 12][1:]
    assert [c["body"].splitlines()[0] for c in moved] == [MOVED]
    assert "<!-- websets-reconciler:" not in moved[0]["body"]  # never taken for a reviewed plan
    assert "**Plan: 2 to create" in moved[0]["body"]
    assert MOVED in run.summary
    assert "websets.lock is unchanged: nothing to record" in run.log or "There is no websets.lock" in run.log
    assert git(flow.bare, "rev-parse", "main") == merge


def test_a_reviewed_plan_without_changes_applies_only_while_there_are_none(flow):
    write_files(flow.clone, {"a": rows(2, "a")})
    flow.review(12)
    first = flow.merge(12)
    assert flow.apply(first, **{"lockfile-mode": "none"}).code == 0
    commit_all(flow.clone, "Record the lockfile")

    # A change with no effect on the remote (a comment): its plan has no changes, and carries no digest.
    manifest = flow.clone / "websets.yaml"
    manifest.write_text("# who owns what: the growth team\n" + manifest.read_text())
    assert "**No changes.**" in flow.review(13)
    second = flow.merge(13)
    before = len(flow.writes())
    run = flow.apply(second, **{"lockfile-mode": "none"})
    assert run.code == 0, run.log
    assert "Pull request #13 was merged with a reviewed plan that had no changes" in run.log
    assert run.outputs["has-changes"] == "false" and len(flow.writes()) == before

    # Reviewed as no changes, merged with one: nothing is applied.
    manifest.write_text(manifest.read_text().replace("# who owns what", "# who owns which imports"))
    assert "**No changes.**" in flow.review(14)
    (flow.clone / "data" / "a.csv").write_text(rows(5, "a"))
    third = flow.merge(14)
    run = flow.apply(third, **{"lockfile-mode": "none"})
    assert run.code == 1 and run.outputs["plan-moved"] == "true"
    assert len(flow.writes()) == before
    (moved,) = [c for c in gh_state(flow.gh)["comments"] if c["issue"] == 14][1:]
    assert moved["body"].startswith(MOVED) and "1 to replace" in moved["body"]


def test_a_push_that_no_pull_request_merged_applies_nothing(flow):
    write_files(flow.clone, {"a": rows(2, "a")})
    flow.review(12)
    pushed = commit_all(flow.clone, "Pushed straight to main")
    requests = len(flow.emulator.request_log)
    run = flow.apply(pushed)
    assert run.code == 1
    assert run.ran == ["Check the inputs", FIND]
    assert f"::error::no pull request was merged as commit {pushed}, so there is no reviewed plan to apply" in run.log
    assert run.outputs["exit-code"] == "" and run.outputs["pull-request"] == ""
    assert len(flow.emulator.request_log) == requests  # not even a listing

    # Opting out applies the plan as it is now.
    run = flow.apply(pushed, **{"require-reviewed-plan": "false", "lockfile-mode": "none"})
    assert run.code == 0, run.log
    assert run.ran == ["Check the inputs", RUN, RECORD] and run.outputs["create"] == "1"


def test_args_cannot_replace_the_reviewed_digest_but_a_run_by_hand_applies_by_digest(flow):
    write_files(flow.clone, {"a": rows(2, "a")})
    flow.review(12)
    # What was merged differs from what was reviewed; a digest given in args would let it through.
    write_files(flow.clone, {"a": rows(3, "a")})
    merge = flow.merge(12)
    planned = flow.apply(merge, **{"require-reviewed-plan": "false", "args": "--expect-digest\n" + "0" * 64})
    assert planned.code == 1 and planned.outputs["plan-moved"] == "true"
    assert "::error::the plan moved since its digest was taken: nothing was applied" in planned.log
    assert planned.ran[-1] == RECORD  # no pull request to comment on
    digest = planned.log.split("its digest is ")[1][:64]
    run = flow.apply(merge, args=f"--expect-digest={digest}")
    assert run.code == 1 and run.outputs["exit-code"] == "1"
    assert (
        "::error::args: --expect-digest comes from the reviewed plan; set require-reviewed-plan: false to give your own"
        in run.log
    )
    assert flow.writes() == [] and run.outputs["plan-moved"] == ""

    # By hand (apply.yml's workflow_dispatch): no pull request, the digest of the plan reviewed since.
    run = flow.apply(
        merge, **{"require-reviewed-plan": "false", "args": f"--expect-digest\n{digest}", "lockfile-mode": "none"}
    )
    assert run.code == 0, run.log
    assert run.outputs["create"] == "1"
