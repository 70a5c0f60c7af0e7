"""The action's scripts for the reviewed plan and the exit code: reviewed-plan.sh against a gh stand-in,
exit-code.sh on every kind of code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.github.runner import BOT, REPO, SCRIPTS, TOKEN, gh_state, install_gh, merged_pull, plan_comment

SHA = "a" * 40
DIGEST = "0123456789abcdef" * 4
PLAN = "<!-- websets-reconciler:plan -->\n### websets-reconciler plan\n\n**Plan: 1 to create, 0 to update, 0 to replace, 0 to delete.**\n"
PERSON = {"login": "someone", "type": "User"}


def _digest_marker(digest: str) -> str:
    return f"<!-- websets-reconciler:digest={digest} -->\nPlan digest: `{digest}`\n"


def run_script(name: str, *args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPTS / name), *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


# -- exit-code.sh ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "code", "plan_has_changes", "result", "error"),
    [
        ("plan", "0", "false", 0, None),
        ("apply", "0", "false", 0, None),
        ("plan", "1", "false", 1, None),  # the tool has printed its one-line error
        ("plan", "2", "true", 0, None),  # --detailed-exitcode: changes, saved in the plan
        ("plan", "2", "false", 1, "websets-reconciler plan exited 2 without saving a plan with changes"),
        ("apply", "2", "true", 1, "websets-reconciler apply exited 2 without saving a plan with changes"),
        ("validate", "2", "false", 1, "websets-reconciler validate exited 2 without saving a plan with changes"),
        ("apply", "130", "false", 130, "websets-reconciler apply was interrupted (exit code 130)"),
        ("plan", "137", "false", 137, "websets-reconciler plan exited with code 137"),
        ("plan", "3", "true", 3, "websets-reconciler plan exited with code 3"),
        ("plan", "", "false", 1, "websets-reconciler plan: '' is not an exit code"),
        ("plan", "256", "false", 1, "websets-reconciler plan: '256' is not an exit code"),
    ],
)
def test_exit_code_maps_to_the_step_result(command, code, plan_has_changes, result, error):
    done = run_script("exit-code.sh", command, code, plan_has_changes, env={})
    assert done.returncode == result
    if error:
        (line,) = done.stdout.splitlines()
        assert line.startswith(f"::error::{error}")
    else:
        assert done.stdout == ""


# -- reviewed-plan.sh find -------------------------------------------------------------------------------


def _find(tmp_path: Path, pulls: list[dict], comments: list[dict]) -> tuple[subprocess.CompletedProcess, str, dict]:
    env = install_gh(tmp_path / "bin", tmp_path / "gh.json", {"pulls": pulls, "comments": comments})
    output = tmp_path / "output"
    output.write_text("")
    env.update(GITHUB_REPOSITORY=REPO, GITHUB_SHA=SHA, GITHUB_OUTPUT=str(output))
    done = run_script("reviewed-plan.sh", "find", env=env)
    assert TOKEN not in done.stdout + done.stderr
    return done, output.read_text(), env


def test_find_reads_the_digest_of_the_bots_plan_comment_on_the_pull_request_merged_as_the_commit(tmp_path):
    pulls = [
        # Open, and holding the commit (a branch made from main): not what this push merged.
        {**merged_pull(3, "b" * 40), "state": "open", "merged_at": None, "merge_commit_sha": None, "commits": [SHA]},
        merged_pull(9, "c" * 40),  # merged, but as another commit
        merged_pull(12, SHA),
    ]
    comments = [
        plan_comment(1, 9, PLAN + _digest_marker("f" * 64)),
        # A person's comment with the markers comes first, and is never taken for the reviewed plan.
        plan_comment(2, 12, PLAN + _digest_marker("e" * 64), PERSON),
        plan_comment(3, 12, "Looks good", PERSON),
        plan_comment(4, 12, PLAN + _digest_marker(DIGEST)),
        plan_comment(5, 12, "<!-- websets-reconciler:apply -->\nApply complete"),
    ]
    done, output, env = _find(tmp_path, pulls, comments)
    assert done.returncode == 0, done.stdout + done.stderr
    assert output == f"pull-request=12\ndigest={DIGEST}\n"
    assert f"Pull request #12 was merged with the reviewed plan {DIGEST}" in done.stdout
    calls = gh_state(env)["calls"]
    assert calls[0] == ["api", f"repos/{REPO}/commits/{SHA}/pulls?per_page=100"]
    assert calls[1] == ["api", f"repos/{REPO}/issues/12/comments?per_page=100", "--paginate", "--slurp"]


def test_find_gives_an_empty_digest_for_a_reviewed_plan_without_changes(tmp_path):
    no_changes = "<!-- websets-reconciler:plan -->\n### websets-reconciler plan\n\n**No changes.** The remote matches the manifest.\n"
    done, output, _ = _find(tmp_path, [merged_pull(12, SHA)], [plan_comment(4, 12, no_changes)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert output == "pull-request=12\ndigest=\n"
    assert "had no changes: apply goes ahead only if it still finds none" in done.stdout


@pytest.mark.parametrize(
    ("pulls", "comments", "error"),
    [
        (
            [
                {
                    **merged_pull(3, "b" * 40),
                    "state": "open",
                    "merged_at": None,
                    "merge_commit_sha": None,
                    "commits": [SHA],
                }
            ],
            [],
            f"no pull request was merged as commit {SHA}, so there is no reviewed plan to apply: nothing was applied",
        ),
        (
            [merged_pull(12, SHA)],
            [
                plan_comment(2, 12, PLAN + _digest_marker(DIGEST), PERSON),
                plan_comment(4, 11, PLAN + _digest_marker(DIGEST)),
            ],
            "pull request #12 has no plan comment (one with <!-- websets-reconciler:plan -->, written by the plan workflow)",
        ),
        (
            [merged_pull(12, SHA)],
            [plan_comment(4, 12, PLAN + _digest_marker(DIGEST[:-1]))],
            "the plan comment of pull request #12 carries a digest that is not 64 hexadecimal digits",
        ),
        (
            [merged_pull(12, SHA)],
            [plan_comment(4, 12, PLAN + _digest_marker(DIGEST.upper()))],
            "the plan comment of pull request #12 carries a digest that is not 64 hexadecimal digits",
        ),
        (
            [merged_pull(12, SHA)],
            [plan_comment(4, 12, PLAN + _digest_marker(DIGEST) + _digest_marker("f" * 64))],
            "the plan comment of pull request #12 carries more than one digest",
        ),
    ],
    ids=["no-merged-pull-request", "no-plan-comment", "short-digest", "uppercase-digest", "two-digests"],
)
def test_find_fails_and_outputs_nothing_without_one_reviewed_plan(tmp_path, pulls, comments, error):
    done, output, _ = _find(tmp_path, pulls, comments)
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"::error::{error}") and "nothing was applied" in line
    assert output == ""


def test_find_fails_in_one_line_when_gh_fails(tmp_path):
    env = install_gh(tmp_path / "bin", tmp_path / "gh.json")
    output = tmp_path / "output"
    env.update(GITHUB_REPOSITORY=REPO, GITHUB_SHA="not-a-sha", GITHUB_OUTPUT=str(output))
    done = run_script("reviewed-plan.sh", "find", env=env)
    assert done.returncode == 1
    assert done.stdout == (
        "::error::could not read the pull requests of commit not-a-sha (see the gh error above): nothing was applied\n"
    )
    assert "unsupported api call" in done.stderr
    assert not output.exists()


def test_comment_posts_the_markdown_on_the_pull_request(tmp_path):
    env = install_gh(tmp_path / "bin", tmp_path / "gh.json")
    env["GITHUB_REPOSITORY"] = REPO
    body = tmp_path / "moved.md"
    body.write_text("### websets-reconciler: the plan moved since it was reviewed; nothing was applied\n")
    done = run_script("reviewed-plan.sh", "comment", "12", str(body), env=env)
    assert done.returncode == 0, done.stderr
    assert "Commented the plan apply would carry out now on pull request #12" in done.stdout
    (comment,) = gh_state(env)["comments"]
    assert (comment["issue"], comment["body"], comment["user"]) == (12, body.read_text(), BOT)
    done = run_script("reviewed-plan.sh", "comment", "12; rm -rf /", str(body), env=env)
    assert done.returncode == 1 and "is not a pull request number" in done.stdout
    assert len(gh_state(env)["comments"]) == 1
