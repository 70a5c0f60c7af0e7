"""The GitHub Action and the example workflows: linted, pinned, and run in bash against the emulator."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY, ROOT
from tests.github.runner import ACTION, BIN, BOT, SCRIPTS, TOKEN, gh_state, install_gh, run_action

WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/github/*.yml")])


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, f"{name} is installed by the test extra"
    return found


def test_actionlint_passes():
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # with shellcheck for run: scripts
    result = subprocess.run([_tool("actionlint"), *map(str, WORKFLOWS)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(WORKFLOWS) == 4


def test_zizmor_passes():
    # Files, not the examples' folder: zizmor collects no workflow from a folder outside .github/workflows.
    targets = [str(ACTION), *map(str, WORKFLOWS)]
    result = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", *targets], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(path.name in result.stderr for path in WORKFLOWS), result.stderr  # each one audited


def _scripts(document: dict) -> list[tuple[str, str]]:
    steps = document.get("runs", {}).get("steps", [])
    for job in document.get("jobs", {}).values():
        steps = [*steps, *job.get("steps", [])]
    return [(step.get("name", "?"), step["run"]) for step in steps if "run" in step]


def test_action_scripts_pass_shellcheck(tmp_path):
    scripts = _scripts(yaml.safe_load(ACTION.read_text()))
    assert len(scripts) == 6
    for name, script in scripts:
        assert "${{" not in script, f"{name}: expressions go through env:, never into the script"
        path = tmp_path / "step.sh"
        path.write_text(script)
        result = subprocess.run([_tool("shellcheck"), "-s", "bash", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


def test_action_helper_scripts_pass_shellcheck_and_stop_at_the_first_error():
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert [s.name for s in scripts] == ["exit-code.sh", "record-lockfile.sh", "reviewed-plan.sh"]
    result = subprocess.run([_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    for script in scripts:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text, script.name
        assert os.access(script, os.X_OK), f"{script.name} is executable"
        assert "${{" not in text, script.name


def test_every_action_is_pinned_by_sha_with_its_version():
    uses = [
        (path.name, line.strip())
        for path in [ACTION, *WORKFLOWS]
        for line in path.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert uses
    for name, line in uses:
        assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), f"{name}: {line}"


def test_workflows_follow_the_rules():
    for path in WORKFLOWS:
        document = yaml.safe_load(path.read_text())
        triggers = document[True]  # PyYAML reads the key `on` as True
        assert "pull_request_target" not in triggers, path.name
        assert document.get("permissions") in ({}, {"contents": "read"}), f"{path.name}: least permissions at the top"
        for job in document["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path.name
                # The key goes to the action's api-key input, which gives it to the one step that runs the tool.
                assert "EXA_API_KEY" not in json.dumps(step.get("env", {})), f"{path.name}: {step.get('name')}"
    apply_wf = yaml.safe_load((ROOT / "examples/github/apply.yml").read_text())
    assert apply_wf["concurrency"]["cancel-in-progress"] is False
    assert "websets.lock" not in apply_wf[True]["push"]["paths"]
    (job,) = apply_wf["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    checkout, apply_step = job["steps"][:2]
    assert checkout["with"]["ref"] == "${{ github.sha }}"  # applied at the merge commit
    assert apply_step["with"]["command"] == "apply"
    assert apply_step["with"]["api-key"] == "${{ secrets.EXA_API_KEY }}"
    assert apply_step["with"]["require-reviewed-plan"] == "${{ github.event_name == 'push' }}"
    assert not any("git " in step.get("run", "") for step in job["steps"]), "the action records websets.lock"


# -- the composite action, run step by step in bash --------------------------------------------------


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "data-repo"
    root.mkdir()
    write_files(root, {"a": rows(2, "a"), "b": rows(1, "b")})
    return root


# Outside a pull request's flow: apply whatever the plan is, and leave the lockfile where it is.
PLAIN_APPLY = {"command": "apply", "api-key": API_KEY, "require-reviewed-plan": "false", "lockfile-mode": "none"}
PLAN = {"command": "plan", "api-key": API_KEY}


def test_composite_action_plan_apply_plan(emulator, repo):
    env = {"EXA_BASE_URL": emulator.base_url}
    code, outputs, summary, log, _ = run_action({**PLAN, "args": "--detailed-exitcode"}, repo, env)
    assert code == 0, log
    assert outputs["has-changes"] == "true"
    assert (outputs["create"], outputs["update"], outputs["replace"], outputs["delete"]) == ("2", "0", "0", "0")
    assert json.loads(Path(outputs["plan-path"]).read_text())["kind"] == "websets-reconciler/saved-plan"
    assert "**Plan: 2 to create, 0 to update, 0 to replace, 0 to delete.**" in summary
    assert Path(outputs["markdown-path"]).read_text().startswith("<!-- websets-reconciler:plan -->")
    assert outputs["exit-code"] == "0"

    code, outputs, summary, log, ran = run_action(PLAIN_APPLY, repo, env)
    assert code == 0, log
    assert outputs["create"] == "2" and outputs["has-changes"] == "true"
    assert "**Apply complete: 2 created, 0 updated, 0 replaced, 0 deleted.**" in summary
    assert (repo / "websets.lock").exists()
    assert "Find the plan reviewed on the merged pull request" not in ran
    assert "lockfile-mode none: websets.lock is not recorded" in log

    code, outputs, summary, log, _ = run_action({**PLAN, "args": "--detailed-exitcode"}, repo, env)
    assert code == 0 and outputs["has-changes"] == "false"
    assert "**No changes.**" in summary
    assert API_KEY not in summary + log


def test_composite_action_gives_the_key_only_to_the_step_that_runs_the_tool(emulator, repo, tmp_path):
    action = yaml.safe_load(ACTION.read_text())
    steps = [s for s in action["runs"]["steps"] if "run" in s]
    assert [s["name"] for s in steps if "inputs.api-key" in json.dumps(s.get("env", {}))] == ["Run websets-reconciler"]
    assert [s["name"] for s in steps if "EXA_API_KEY" in json.dumps(s)] == ["Run websets-reconciler"]
    # In that step, the tool (a spy in front of it here) gets the input as EXA_API_KEY.
    tools = tmp_path / "tools"
    tools.mkdir()
    seen = tmp_path / "seen"
    spy = tools / "websets-reconciler"
    spy.write_text(f'#!/bin/sh\necho "${{EXA_API_KEY:-none}}" >> {seen}\nexec {BIN / "websets-reconciler"} "$@"\n')
    spy.chmod(0o755)
    env = {"EXA_BASE_URL": emulator.base_url}
    code, *_ = run_action(PLAN, repo, env, tools)
    assert code == 0
    assert seen.read_text().split() == [API_KEY, API_KEY]  # validate, then plan

    code, outputs, _, log, _ = run_action({"command": "plan"}, repo, env)
    assert code == 1 and outputs["exit-code"] == "1"
    assert "::error::the api-key input is empty: plan needs the Exa API key" in log


def test_composite_action_takes_args_one_per_line(emulator, repo):
    env = {"EXA_BASE_URL": emulator.base_url}
    # A line is one argument, spaces and all: --target gets the key "no such key", not three arguments.
    args = "  --detailed-exitcode\n\n--target\nno such key  \n"
    code, outputs, _, log, _ = run_action({**PLAN, "args": args}, repo, env)
    assert code == 1, log
    assert "Error: --target no such key: no such key in the manifest" in log
    args = "--detailed-exitcode\n--target\na"
    code, outputs, _, log, _ = run_action({**PLAN, "args": args}, repo, env)
    assert code == 0, log
    assert (outputs["has-changes"], outputs["create"]) == ("true", "1")


def test_composite_action_turns_validation_errors_into_annotations(emulator, repo):
    (repo / "websets.yaml").write_text((repo / "websets.yaml").read_text().replace("type: company", "type: compnay"))
    env = {"EXA_BASE_URL": emulator.base_url}
    for command in ("validate", "plan"):
        code, outputs, summary, log, _ = run_action({"command": command, "api-key": API_KEY}, repo, env)
        assert code == 1
        assert "::error file=websets.yaml,line=3,col=" in log
        assert "'compnay' is not one of" in log
        assert "the manifest is invalid" in summary
        assert outputs["exit-code"] == "1"
    assert not emulator.request_log  # nothing reached the API


def test_composite_action_fails_on_a_bad_argument_and_reports_no_changes(emulator, repo):
    env = {"EXA_BASE_URL": emulator.base_url}
    for inputs in (PLAN, PLAIN_APPLY):
        code, outputs, summary, log, _ = run_action(
            {**inputs, "args": "--detailed-exitcode\n--parallelism=0\n--nope"}, repo, env
        )
        assert code == 1, log
        assert outputs["exit-code"] == "1"
        assert outputs["has-changes"] == "" and outputs["plan-path"] == ""
        assert "Error: No such option" in log
        assert "Plan:" not in summary and "Apply complete" not in summary
    assert not emulator.request_log  # nothing reached the API


def test_composite_action_refuses_unknown_input_values_before_anything_runs(repo):
    for inputs, message in (
        ({"command": "destroy"}, "command 'destroy': use validate, plan or apply"),
        ({"command": "apply", "require-reviewed-plan": "yes"}, "require-reviewed-plan 'yes': use true or false"),
        ({"command": "apply", "lockfile-mode": "commit"}, "lockfile-mode 'commit': use push, pull-request or none"),
    ):
        code, outputs, _, log, ran = run_action(inputs, repo, {})
        assert code == 1
        assert f"::error::{message}" in log
        assert ran == ["Check the inputs"] and outputs["exit-code"] == ""


def test_composite_action_never_reads_a_bare_exit_2_as_changes(emulator, repo, tmp_path):
    # click exits 2 on a usage error unless told otherwise: a 2 without a saved plan is no "changes".
    tools = tmp_path / "exits-2"
    tools.mkdir()
    stub = tools / "websets-reconciler"
    stub.write_text(
        '#!/bin/sh\nif [ "$1" = plan ]; then echo "Error: No such option: --nope" >&2; exit 2; fi\n'
        f'exec {BIN / "websets-reconciler"} "$@"\n'
    )
    stub.chmod(0o755)
    env = {"EXA_BASE_URL": emulator.base_url}
    code, outputs, summary, log, _ = run_action({**PLAN, "args": "--nope"}, repo, env, tools)
    assert code == 1, log
    assert outputs["exit-code"] == "1" and outputs["has-changes"] == ""
    assert "::error::websets-reconciler plan exited 2 without saving a plan with changes" in log
    assert "Plan:" not in summary


# -- the workflows' own steps, against a gh stand-in ---------------------------------------------------


def _step(workflow: str, name: str) -> dict:
    document = yaml.safe_load((ROOT / "examples" / "github" / workflow).read_text())
    return next(s for job in document["jobs"].values() for s in job["steps"] if s.get("name") == name)


def _gh_step_runner(tmp_path: Path, workflow: str, name: str, initial: dict):
    """Run one workflow step's script with a gh stand-in on PATH; return (run, the stand-in's state file)."""
    gh_env = install_gh(tmp_path / "bin", tmp_path / "gh.json", initial)
    script = tmp_path / "step.sh"
    script.write_text(_step(workflow, name)["run"])

    def run(body: str, **env: str) -> str:
        body_file = tmp_path / "body.md"
        body_file.write_text(body)
        full_env = {**os.environ, **gh_env, "REPO": "acme/data", "BODY_FILE": str(body_file), **env}
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert TOKEN not in result.stdout + result.stderr
        return result.stdout

    return run, Path(gh_env["FAKE_GH_STATE"])


def test_sticky_comment_is_updated_in_place(tmp_path):
    person = {"login": "someone", "type": "User"}
    initial = {
        "comments": [
            {"id": 5, "issue": 7, "body": "Looks good to me", "user": person},
            # A person's comment with the marker is not the plan comment: it is never overwritten.
            {"id": 6, "issue": 7, "body": "<!-- websets-reconciler:plan -->\nmine", "user": person},
        ]
    }
    run, state = _gh_step_runner(tmp_path, "plan.yml", "Post the plan as a sticky comment", initial)

    def post(body: str) -> str:
        return run(body, PR="7")

    assert "Posted the plan comment" in post("<!-- websets-reconciler:plan -->\nPlan: 1 to create")
    assert "Updated the plan comment 1002" in post("<!-- websets-reconciler:plan -->\nNo changes.")
    assert "Updated the plan comment 1002" in post("<!-- websets-reconciler:plan -->\nPlan: 0 to create, 1 to update")
    comments = json.loads(state.read_text())["comments"]
    assert [c["id"] for c in comments] == [5, 6, 1002]
    assert comments[0]["body"] == "Looks good to me" and comments[1]["body"].endswith("mine")
    assert comments[2]["body"].endswith("Plan: 0 to create, 1 to update") and comments[2]["user"] == BOT


def test_apply_result_is_commented_on_the_merged_pull_request(tmp_path):
    run, state = _gh_step_runner(tmp_path, "apply.yml", "Comment the result on the merged pull request", {})
    assert "Commented the result on #12" in run("Apply complete", PR="12")
    comments = gh_state({"FAKE_GH_STATE": str(state)})["comments"]
    assert [(c["issue"], c["body"]) for c in comments] == [(12, "Apply complete")]


def test_drift_issue_is_opened_updated_and_closed(tmp_path):
    run, state = _gh_step_runner(tmp_path, "drift.yml", "Open, update or close the drift issue", {})
    run("Plan: 0 to create, 1 to update", HAS_CHANGES="true")
    run("Plan: 0 to create, 2 to update", HAS_CHANGES="true")
    (issue,) = json.loads(state.read_text())["issues"]
    assert issue["state"] == "open" and issue["body"] == "Plan: 0 to create, 2 to update"
    run("No changes.", HAS_CHANGES="false")
    (issue,) = json.loads(state.read_text())["issues"]
    assert issue["state"] == "closed" and "Drift is gone" in issue["closing_comment"]
    run("No changes.", HAS_CHANGES="false")  # nothing open: nothing to do
    run("Plan: 1 to create", HAS_CHANGES="true")  # drift again: a new issue
    assert [i["state"] for i in json.loads(state.read_text())["issues"]] == ["closed", "open"]


def test_a_plan_that_only_moves_a_key_is_a_plan_with_changes(emulator, tmp_path):
    from tests.apply.helpers import rows, write_files
    from tests.github.runner import run_action

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"EXA_BASE_URL": emulator.base_url}
    write_files(repo, {"a": rows(2, "a")})
    applied = {"command": "apply", "api-key": API_KEY, "require-reviewed-plan": "false", "lockfile-mode": "none"}
    assert run_action(applied, repo, env).code == 0
    manifest = repo / "websets.yaml"
    manifest.write_text(manifest.read_text().replace("  a: {title:", "  b: {title:") + "moved:\n  - {from: a, to: b}\n")
    run = run_action({"command": "plan", "api-key": API_KEY, "args": "--detailed-exitcode"}, repo, env)
    assert "1 to move" in Path(run.outputs["markdown-path"]).read_text()
    assert run.code == 0 and run.outputs["has-changes"] == "true", run.log[-300:]
