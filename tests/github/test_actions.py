"""The GitHub Action and the example workflows: linted, pinned, and run in bash against the emulator."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY, ROOT

BIN = Path(sys.executable).parent
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/github/*.yml")])
ACTION = ROOT / "action.yml"


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
    targets = [str(ACTION), str(ROOT / ".github" / "workflows"), str(ROOT / "examples" / "github")]
    result = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", *targets], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _scripts(document: dict) -> list[tuple[str, str]]:
    steps = document.get("runs", {}).get("steps", [])
    for job in document.get("jobs", {}).values():
        steps = [*steps, *job.get("steps", [])]
    return [(step.get("name", "?"), step["run"]) for step in steps if "run" in step]


def test_action_scripts_pass_shellcheck(tmp_path):
    scripts = _scripts(yaml.safe_load(ACTION.read_text()))
    assert len(scripts) == 2
    for name, script in scripts:
        assert "${{" not in script, f"{name}: expressions go through env:, never into the script"
        path = tmp_path / "step.sh"
        path.write_text(script)
        result = subprocess.run([_tool("shellcheck"), "-s", "bash", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


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
    apply_wf = yaml.safe_load((ROOT / "examples/github/apply.yml").read_text())
    assert apply_wf["concurrency"]["cancel-in-progress"] is False
    assert "websets.lock" not in apply_wf[True]["push"]["paths"]


# -- the composite action, run step by step in bash --------------------------------------------------

_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def run_action(
    inputs: dict[str, str], workdir: Path, env: dict[str, str], tools: Path = BIN
) -> tuple[int, dict[str, str], str, str]:
    """Run action.yml's `run:` steps as a runner would, the tool found first in `tools`;
    return (exit code, outputs, summary, stdout)."""
    action = yaml.safe_load(ACTION.read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    temp = workdir / "runner-temp"
    temp.mkdir(exist_ok=True)
    output_file, summary_file, event_file = temp / "output", temp / "summary", temp / "event.json"
    event_file.write_text(json.dumps({"pull_request": {"number": 7}}))
    base_env = {
        **os.environ,
        **env,
        "PATH": os.pathsep.join(dict.fromkeys([str(tools), str(BIN), os.environ["PATH"]])),
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(temp),
        "GITHUB_ACTION_PATH": str(ROOT),
    }
    context = {"github.action_path": str(ROOT), **{f"inputs.{k}": v for k, v in values.items()}}
    stdout = ""
    code = 0
    for step in action["runs"]["steps"]:
        if "uses" in step:
            continue  # setup-python: this interpreter stands in for it
        step_env = {k: _EXPR.sub(lambda m: context[m.group(1)], str(v)) for k, v in step.get("env", {}).items()}
        script = temp / "step.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workdir,
            env={**base_env, **step_env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        stdout += result.stdout + result.stderr
        if result.returncode != 0:
            code = result.returncode
            break
    raw = (
        dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
        if output_file.exists()
        else {}
    )
    outputs = {
        name: _EXPR.sub(lambda m: raw.get(m.group(1).rsplit(".", 1)[1], ""), spec["value"])
        for name, spec in action["outputs"].items()
    }
    return code, outputs, summary_file.read_text() if summary_file.exists() else "", stdout


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "data-repo"
    root.mkdir()
    write_files(root, {"a": rows(2, "a"), "b": rows(1, "b")})
    return root


def test_composite_action_plan_apply_plan(emulator, repo):
    env = {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    code, outputs, summary, log = run_action({"command": "plan", "args": "--detailed-exitcode"}, repo, env)
    assert code == 0, log
    assert outputs["has-changes"] == "true"
    assert (outputs["create"], outputs["update"], outputs["replace"], outputs["delete"]) == ("2", "0", "0", "0")
    assert json.loads(Path(outputs["plan-path"]).read_text())["kind"] == "websets-reconciler/saved-plan"
    assert "**Plan: 2 to create, 0 to update, 0 to replace, 0 to delete.**" in summary
    assert Path(outputs["markdown-path"]).read_text().startswith("<!-- websets-reconciler:plan -->")
    assert outputs["exit-code"] == "0"

    code, outputs, summary, log = run_action({"command": "apply"}, repo, env)
    assert code == 0, log
    assert outputs["create"] == "2" and outputs["has-changes"] == "true"
    assert "**Apply complete: 2 created, 0 updated, 0 replaced, 0 deleted.**" in summary
    assert (repo / "websets.lock").exists()

    code, outputs, summary, log = run_action({"command": "plan", "args": "--detailed-exitcode"}, repo, env)
    assert code == 0 and outputs["has-changes"] == "false"
    assert "**No changes.**" in summary
    assert API_KEY not in summary + log


def test_composite_action_turns_validation_errors_into_annotations(emulator, repo):
    (repo / "websets.yaml").write_text((repo / "websets.yaml").read_text().replace("type: company", "type: compnay"))
    env = {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    for command in ("validate", "plan"):
        code, outputs, summary, log = run_action({"command": command}, repo, env)
        assert code == 1
        assert "::error file=websets.yaml,line=3,col=" in log
        assert "'compnay' is not one of" in log
        assert "the manifest is invalid" in summary
        assert outputs["exit-code"] == "1"
    assert not emulator.request_log  # nothing reached the API


def test_composite_action_fails_on_a_bad_argument_and_reports_no_changes(emulator, repo):
    env = {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    for command in ("plan", "apply"):
        code, outputs, summary, log = run_action(
            {"command": command, "args": "--detailed-exitcode --parallelism=0 --nope"}, repo, env
        )
        assert code == 1, log
        assert outputs["exit-code"] == "1"
        assert outputs["has-changes"] == "" and outputs["plan-path"] == ""
        assert "Error: No such option" in log
        assert "Plan:" not in summary and "Apply complete" not in summary
    assert not emulator.request_log  # nothing reached the API


def test_composite_action_never_reads_a_bare_exit_2_as_changes(emulator, repo, tmp_path):
    # A release chosen through `version` may exit 2 on a usage error, as click does by default.
    tools = tmp_path / "older-release"
    tools.mkdir()
    stub = tools / "websets-reconciler"
    stub.write_text(
        '#!/bin/sh\nif [ "$1" = plan ]; then echo "Error: No such option: --nope" >&2; exit 2; fi\n'
        f'exec {BIN / "websets-reconciler"} "$@"\n'
    )
    stub.chmod(0o755)
    env = {"EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url}
    code, outputs, summary, log = run_action({"command": "plan", "args": "--nope"}, repo, env, tools)
    assert code == 1, log
    assert outputs["exit-code"] == "1" and outputs["has-changes"] == ""
    assert "::error::websets-reconciler plan exited 2 without saving a plan with changes" in log
    assert "Plan:" not in summary


# -- the sticky comment, against a gh stand-in ---------------------------------------------------------


def _step(workflow: str, name: str) -> dict:
    document = yaml.safe_load((ROOT / "examples" / "github" / workflow).read_text())
    return next(s for job in document["jobs"].values() for s in job["steps"] if s.get("name") == name)


def _gh_step_runner(tmp_path: Path, workflow: str, name: str, initial: dict):
    """Run one workflow step's script with a gh stand-in on PATH; return (run, the stand-in's state file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(f'#!/bin/sh\nexec {sys.executable} {ROOT / "tests/github/fake_gh.py"} "$@"\n')
    gh.chmod(0o755)
    state = tmp_path / "gh.json"
    state.write_text(json.dumps({"comments": [], "issues": [], "labels": [], "calls": [], **initial}))
    script = tmp_path / "step.sh"
    script.write_text(_step(workflow, name)["run"])

    def run(body: str, **env: str) -> str:
        body_file = tmp_path / "body.md"
        body_file.write_text(body)
        full_env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_GH_STATE": str(state),
            "GH_TOKEN": "t",
            "REPO": "acme/data",
            "BODY_FILE": str(body_file),
            **env,
        }
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run, state


def test_sticky_comment_is_updated_in_place(tmp_path):
    initial = {"comments": [{"id": 5, "issue": 7, "body": "Looks good to me"}]}
    run, state = _gh_step_runner(tmp_path, "plan.yml", "Post the plan as a sticky comment", initial)

    def post(body: str) -> str:
        return run(body, PR="7")

    assert "Posted the plan comment" in post("<!-- websets-reconciler:plan -->\nPlan: 1 to create")
    assert "Updated the plan comment 1001" in post("<!-- websets-reconciler:plan -->\nNo changes.")
    assert "Updated the plan comment 1001" in post("<!-- websets-reconciler:plan -->\nPlan: 0 to create, 1 to update")
    comments = json.loads(state.read_text())["comments"]
    assert [c["id"] for c in comments] == [5, 1001]
    assert comments[0]["body"] == "Looks good to me"
    assert comments[1]["body"].endswith("Plan: 0 to create, 1 to update")


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
