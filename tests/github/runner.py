"""The composite action's steps run in bash as a runner runs them, and the stand-ins its scripts meet:
a `gh` on PATH (fake_gh.py) and a data repository cloned from a bare one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import yaml

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
ACTION = ROOT / "action.yml"
SCRIPTS = ROOT / ".github" / "scripts"
TOKEN = "ghs_runnerToken0123456789"  # what `github.token` stands for here; no output may show it
REPO = "acme/data"
BOT = {"login": "github-actions[bot]", "type": "Bot"}
# This venv's editable install stands in for the install step (its pins: tests/github/test_requirements.py).
NOT_RUN = ("Install websets-reconciler",)

_EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
_TOKEN = re.compile(r"\s*(?:('[^']*')|(==|!=|&&|\|\||!|\(|\))|(\w+)\(\)|([\w.-]+))")
_STATUS = {"always": lambda failed: True, "cancelled": lambda failed: False, "success": lambda failed: not failed}


def _value(context: dict[str, str], name: str) -> str:
    """A context value; a step that did not run, or set no such output, gives "" as on a runner."""
    return context.get(name, "") if name.startswith("steps.") else context[name]


def condition(expression: str, context: dict[str, str], failed: bool) -> bool:
    """A step's `if:` as the runner reads it, for the few forms action.yml uses: strings compared with
    == and !=, &&, ||, !, and the status functions; without one, success() is implied."""
    match = _EXPR.fullmatch(expression.strip())
    text = match.group(1) if match else expression
    python, pos, status_used = [], 0, False
    while pos < len(text.rstrip()):
        token = _TOKEN.match(text, pos)
        assert token, f"the harness cannot read {text[pos:]!r}"
        string, op, call, name = token.groups()
        if string is not None:
            python.append(repr(string[1:-1]))
        elif op is not None:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(op, op))
        elif call is not None:
            status_used = True
            python.append(repr(_STATUS[call](failed)))
        else:
            python.append(repr(_value(context, name)))
        pos = token.end()
    value = bool(eval("".join(python), {"__builtins__": {}}))
    return value if status_used else value and not failed


class ActionRun(NamedTuple):
    code: int
    outputs: dict[str, str]
    summary: str
    log: str
    ran: list[str]  # the names of the steps that ran


def run_action(inputs: dict[str, str], workdir: Path, env: dict[str, str], tools: Path = BIN) -> ActionRun:
    """Run action.yml's `run:` steps as a runner would (each with its own output file, `if:` and `env:`
    read), the tool found first in `tools`; setup-python and the install are left to this venv."""
    action = yaml.safe_load(ACTION.read_text())
    temp = workdir.parent / f"{workdir.name}-runner-temp"
    temp.mkdir(exist_ok=True)
    summary_file = temp / "summary"
    context = {"github.action_path": str(ROOT), "github.token": TOKEN}
    for name, spec in action["inputs"].items():
        value = inputs.get(name, str(spec.get("default", "")))
        context[f"inputs.{name}"] = _EXPR.sub(lambda m: context[m.group(1)], value)
    base_env = {
        **os.environ,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SERVER_URL": "https://github.com",
        **env,
        "PATH": os.pathsep.join(dict.fromkeys([str(tools), str(BIN), *env.get("PATH", os.environ["PATH"]).split(":")])),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(temp),
        "GITHUB_ACTION_PATH": str(ROOT),
    }
    log, code, failed, ran = "", 0, False, []
    for index, step in enumerate(action["runs"]["steps"]):
        if "uses" in step or step["name"] in NOT_RUN:
            continue
        if not condition(str(step.get("if", "success()")), context, failed):
            continue
        ran.append(step["name"])
        output_file = temp / f"output-{index}"
        output_file.write_text("")
        step_env = {k: _EXPR.sub(lambda m: _value(context, m.group(1)), str(v)) for k, v in step.get("env", {}).items()}
        script = temp / "step.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workdir,
            env={**base_env, **step_env, "GITHUB_OUTPUT": str(output_file)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        log += result.stdout + result.stderr
        for line in output_file.read_text().splitlines():
            if "=" in line and "id" in step:
                name, value = line.split("=", 1)
                context[f"steps.{step['id']}.outputs.{name}"] = value
        if result.returncode != 0 and not failed:
            code, failed = result.returncode, True
    outputs = {
        name: _EXPR.sub(lambda m: context.get(m.group(1), ""), spec["value"])
        for name, spec in action["outputs"].items()
    }
    return ActionRun(code, outputs, summary_file.read_text() if summary_file.exists() else "", log, ran)


# -- the stand-ins -------------------------------------------------------------------------------------


def install_gh(bin_dir: Path, state_file: Path, initial: dict | None = None) -> dict[str, str]:
    """Put the gh stand-in on a PATH with `initial` state; return the environment that finds it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(f'#!/bin/sh\nexec {sys.executable} {ROOT / "tests/github/fake_gh.py"} "$@"\n')
    gh.chmod(0o755)
    state = {"comments": [], "issues": [], "labels": [], "pulls": [], "calls": [], **(initial or {})}
    state_file.write_text(json.dumps(state))
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_GH_STATE": str(state_file), "GH_TOKEN": TOKEN}


def gh_state(env: dict[str, str]) -> dict:
    return json.loads(Path(env["FAKE_GH_STATE"]).read_text())


def git(cwd: Path, *args: str) -> str:
    """Run git as a person at a terminal would, with an identity and none of this machine's settings."""
    result = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=cwd,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def bare_and_clone(tmp_path: Path, name: str = "clone") -> tuple[Path, Path]:
    """A bare repository with `main`, and a clone of it to fill and push."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    clone = tmp_path / name
    git(tmp_path, "clone", "--quiet", str(bare), str(clone))
    git(clone, "checkout", "--quiet", "-b", "main")
    return bare, clone


def commit_all(clone: Path, message: str) -> str:
    """Commit every file of the clone and push it to main; return the commit."""
    git(clone, "add", "-A")
    git(clone, "commit", "--quiet", "-m", message)
    git(clone, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return git(clone, "rev-parse", "HEAD")


def merged_pull(number: int, sha: str) -> dict:
    """A pull request that was merged as commit `sha`."""
    return {
        "number": number,
        "state": "closed",
        "title": f"Change {number}",
        "body": "",
        "head": {"ref": f"change-{number}"},
        "base": {"ref": "main"},
        "merged_at": "2026-11-30T12:00:00Z",
        "merge_commit_sha": sha,
    }


def plan_comment(comment_id: int, issue: int, body: str, user: dict = BOT) -> dict:
    return {"id": comment_id, "issue": issue, "body": body, "user": user}
