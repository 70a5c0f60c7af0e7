"""record-lockfile.sh against a bare repository and its clones: the runner's checkout (at the merge commit)
records the lockfile onto the branch head, while another clone pushes merges of its own."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.github.runner import REPO, SCRIPTS, TOKEN, bare_and_clone, commit_all, gh_state, git, install_gh

LOCK_V1 = '{"serial": 1}\n'
LOCK_V2 = '{"serial": 2}\n'
LOCK_V3 = '{"serial": 3}\n'
LOCK_BRANCH = "websets-reconciler/lockfile-main"


class Repos:
    """origin.git; `runner`, the apply job's checkout of the merge commit; `other`, where others merge."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.bare, self.other = bare_and_clone(tmp_path, "other")
        (self.other / "websets.yaml").write_text("owner: growth\n")
        (self.other / "websets.lock").write_text(LOCK_V1)
        self.merge = commit_all(self.other, "Merge pull request #12")
        self.runner = tmp_path / "runner"
        git(tmp_path, "clone", "--quiet", str(self.bare), str(self.runner))
        git(self.runner, "checkout", "--quiet", "--detach", self.merge)
        self.gh_env = install_gh(tmp_path / "bin", tmp_path / "gh.json")

    def land(self, name: str) -> str:
        """Another merge lands on main; return its commit."""
        (self.other / name).write_text(name)
        return commit_all(self.other, f"Merge {name}")

    def record(self, mode: str, pr: str = "12", lockfile: str = "websets.lock", path: str | None = None):
        env = {
            **os.environ,
            **self.gh_env,
            "PATH": path or self.gh_env["PATH"],
            "GIT_CONFIG_GLOBAL": os.devnull,  # no identity: the script brings the bot's
            "GIT_CONFIG_NOSYSTEM": "1",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": self.merge,
            "GITHUB_SERVER_URL": "https://github.com",
        }
        args = [str(SCRIPTS / "record-lockfile.sh"), mode, lockfile, *([pr] if pr else [])]
        done = subprocess.run(args, cwd=self.runner, env=env, capture_output=True, text=True, timeout=120)
        assert TOKEN not in done.stdout + done.stderr
        return done

    def origin(self, rev: str) -> str:
        return git(self.bare, "rev-parse", rev)

    def show(self, rev: str, path: str = "websets.lock") -> str:
        return git(self.bare, "show", f"{rev}:{path}") + "\n"


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return Repos(tmp_path)


def _interfere(repos: Repos, times: int) -> None:
    """Make each of the runner's next `times` fetches of main be followed at once by another merge, so the
    push that follows is a non-fast-forward. A reference-transaction hook runs when the fetch has updated
    refs/remotes/origin/main, which is the moment between the script's fetch and its push."""
    counter = repos.tmp_path / "interferences"
    counter.write_text("0")
    hook = repos.runner / ".git" / "hooks" / "reference-transaction"
    hook.write_text(
        f"""#!/bin/sh
[ "$1" = committed ] || exit 0
grep -q ' refs/remotes/origin/main$' || exit 0
n=$(cat {counter})
[ "$n" -lt {times} ] || exit 0
echo $((n + 1)) > {counter}
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
cd {repos.other}
echo "$n" > racing.txt
git add racing.txt
git -c user.name=Dev -c user.email=dev@example.com commit --quiet -m "Merge racing $n"
git push --quiet origin HEAD:refs/heads/main
"""
    )
    hook.chmod(0o755)


def test_push_commits_the_lockfile_onto_the_branch_head_not_the_merge_commit(repos):
    later = repos.land("later.txt")  # a merge that landed while the apply ran
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    done = repos.record("push")
    assert done.returncode == 0, done.stdout + done.stderr
    head = repos.origin("main")
    assert repos.origin("main~1") == later
    assert repos.show("main") == LOCK_V2
    assert repos.show("main", "later.txt").strip() == "later.txt"  # the later merge is kept
    assert git(repos.bare, "diff", "--name-only", "main~1", "main") == "websets.lock"
    assert git(repos.bare, "log", "-1", "--format=%s|%an|%ae", "main") == (
        "Record apply of #12 in websets.lock|github-actions[bot]|41898282+github-actions[bot]@users.noreply.github.com"
    )
    assert f"Recorded websets.lock on main as {head}" in done.stdout
    assert git(repos.runner, "status", "--porcelain") == "M websets.lock"  # the working tree is left alone
    assert not gh_state(repos.gh_env)["calls"]


@pytest.mark.parametrize("races", [1, 3])
def test_push_fetches_again_and_retries_when_another_push_lands_first(repos, races):
    repos.land("later.txt")
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    _interfere(repos, races)
    done = repos.record("push")
    assert done.returncode == 0, done.stdout + done.stderr
    for attempt in range(1, races + 1):
        assert (
            f"main moved while websets.lock was being recorded; fetching it again (retry {attempt} of 3)" in done.stdout
        )
    assert "retry 4" not in done.stdout and f"retry {races + 1} of 3" not in done.stdout
    assert repos.show("main") == LOCK_V2
    assert repos.show("main~1", "racing.txt").strip() == str(races - 1)  # on top of the last racing merge
    assert git(repos.bare, "rev-list", "--count", "main") == str(2 + races + 1)


def test_push_gives_up_after_three_retries(repos):
    repos.land("later.txt")
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    _interfere(repos, 4)
    before = repos.origin("main")
    done = repos.record("push")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == (
        "::error::could not push websets.lock to main: it moved on each of 4 attempts; the next apply records the lockfile again"
    )
    assert done.stdout.count("fetching it again") == 3
    assert repos.show("main") == LOCK_V1
    assert git(repos.bare, "rev-list", "--count", f"{before}..main") == "4"  # only the racing merges landed


def test_push_refused_for_another_reason_is_not_retried(repos):
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    hook = repos.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed for refs/heads/main.' >&2\nexit 1\n")
    hook.chmod(0o755)
    done = repos.record("push")
    assert done.returncode == 1
    assert "GH006: Protected branch update failed" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "::error::could not push websets.lock to main (if the branch is protected, use lockfile-mode: pull-request)"
    )
    assert "fetching it again" not in done.stdout


def test_git_authenticates_with_the_token_in_a_header_from_the_environment(repos, tmp_path):
    # A git in front of the real one notes the header each fetch and push would send to github.com.
    real = shutil.which("git")
    seen = tmp_path / "headers"
    wrapper = tmp_path / "spy" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"""#!/bin/sh
case "$1" in fetch | push) {real} config --get http.https://github.com/.extraheader >> {seen} ;; esac
exec {real} "$@"
"""
    )
    wrapper.chmod(0o755)
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    done = repos.record("push", path=f"{wrapper.parent}{os.pathsep}{repos.gh_env['PATH']}")
    assert done.returncode == 0, done.stdout + done.stderr
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert seen.read_text().splitlines() == [f"AUTHORIZATION: basic {basic}"] * 2
    assert f"::add-mask::{basic}\n" in done.stdout  # the runner hides it from then on
    assert basic not in done.stdout.replace(f"::add-mask::{basic}\n", "") + done.stderr
    assert "extraheader" not in (repos.runner / ".git" / "config").read_text()


def test_pull_request_mode_opens_then_updates_one_pull_request(repos):
    later = repos.land("later.txt")
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    done = repos.record("pull-request")
    assert done.returncode == 0, done.stdout + done.stderr
    (pull,) = gh_state(repos.gh_env)["pulls"]
    assert (pull["number"], pull["state"], pull["head"], pull["base"]) == (
        1,
        "open",
        {"ref": LOCK_BRANCH},
        {"ref": "main"},
    )
    assert pull["title"] == "Record apply of #12 in websets.lock"
    assert f"(commit {repos.merge})" in pull["body"] and "rebuilds the lockfile from the remote stamps" in pull["body"]
    assert "Opened pull request #1: Record apply of #12 in websets.lock" in done.stdout
    assert repos.origin("main") == later  # the protected branch is not pushed to
    assert repos.origin(f"{LOCK_BRANCH}~1") == later and repos.show(LOCK_BRANCH) == LOCK_V2

    # The next apply (of #13, another merge having landed) updates the same pull request and branch.
    newer = repos.land("newer.txt")
    repos.merge = newer
    git(repos.runner, "fetch", "--quiet", "origin")
    git(repos.runner, "checkout", "--quiet", "--force", "--detach", newer)
    (repos.runner / "websets.lock").write_text(LOCK_V3)
    done = repos.record("pull-request", pr="13")
    assert done.returncode == 0, done.stdout + done.stderr
    (pull,) = gh_state(repos.gh_env)["pulls"]
    assert (pull["number"], pull["state"], pull["title"]) == (1, "open", "Record apply of #13 in websets.lock")
    assert "Updated pull request #1: Record apply of #13 in websets.lock" in done.stdout
    assert repos.origin(f"{LOCK_BRANCH}~1") == newer and repos.show(LOCK_BRANCH) == LOCK_V3
    assert git(repos.bare, "rev-list", "--count", f"main..{LOCK_BRANCH}") == "1"


def test_pull_request_mode_closes_its_pull_request_once_the_branch_has_the_lockfile(repos):
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    assert repos.record("pull-request").returncode == 0
    # Someone records the same lockfile on main by other means (say, the pull request's branch, merged).
    (repos.other / "websets.lock").write_text(LOCK_V2)
    commit_all(repos.other, "Merge the lockfile")
    done = repos.record("pull-request")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "main already records this websets.lock" in done.stdout
    assert "Closed pull request #1: main already records the newer websets.lock" in done.stdout
    assert [p["state"] for p in gh_state(repos.gh_env)["pulls"]] == ["closed"]


def test_pull_request_mode_names_the_commit_without_a_pull_request(repos):
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    done = repos.record("pull-request", pr="")
    assert done.returncode == 0, done.stdout + done.stderr
    (pull,) = gh_state(repos.gh_env)["pulls"]
    assert pull["title"] == f"Record apply of {repos.merge[:7]} in websets.lock"


@pytest.mark.parametrize("mode", ["push", "pull-request"])
def test_nothing_is_recorded_when_the_lockfile_did_not_change(repos, mode):
    before = repos.origin("main")
    done = repos.record(mode)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "websets.lock is unchanged: nothing to record"
    assert repos.origin("main") == before
    assert git(repos.bare, "branch", "--list", LOCK_BRANCH) == ""
    assert not gh_state(repos.gh_env)["calls"]


def test_none_mode_and_a_missing_lockfile_record_nothing(repos):
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    done = repos.record("none")
    assert done.returncode == 0
    assert done.stdout == (
        "lockfile-mode none: websets.lock is not recorded; the next plan or apply rebuilds it from the remote stamps\n"
    )
    (repos.runner / "websets.lock").unlink()
    done = repos.record("push")
    assert done.returncode == 0 and done.stdout == "There is no websets.lock to record\n"
    assert repos.show("main") == LOCK_V1
    assert not gh_state(repos.gh_env)["calls"]


def test_a_lockfile_in_a_subdirectory_is_recorded_at_its_path(repos):
    (repos.other / "infra").mkdir()
    (repos.other / "infra" / "websets.lock").write_text(LOCK_V1)
    repos.merge = commit_all(repos.other, "Merge infra")
    git(repos.runner, "fetch", "--quiet", "origin")
    git(repos.runner, "checkout", "--quiet", "--detach", repos.merge)
    (repos.runner / "infra" / "websets.lock").write_text(LOCK_V2)
    done = repos.record("push", lockfile="./infra/websets.lock")
    assert done.returncode == 0, done.stdout + done.stderr
    assert repos.show("main", "infra/websets.lock") == LOCK_V2 and repos.show("main") == LOCK_V1


@pytest.mark.parametrize(
    ("mode", "lockfile", "ref", "error"),
    [
        ("commit", "websets.lock", "refs/heads/main", "lockfile-mode 'commit': use push, pull-request or none"),
        ("push", "websets.lock", "refs/tags/v1", "websets.lock is recorded on a branch, and refs/tags/v1 is none"),
        ("push", "../websets.lock", "refs/heads/main", "../websets.lock: the lockfile must lie inside the repository"),
    ],
)
def test_refusals_are_one_line(repos, mode, lockfile, ref, error):
    (repos.runner / "websets.lock").write_text(LOCK_V2)
    (repos.tmp_path / "websets.lock").write_text(LOCK_V2)
    env = {**os.environ, **repos.gh_env, "GITHUB_REPOSITORY": REPO, "GITHUB_REF": ref, "GITHUB_SHA": repos.merge}
    done = subprocess.run(
        [str(SCRIPTS / "record-lockfile.sh"), mode, lockfile, "12"],
        cwd=repos.runner,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"::error::{error}")
    assert repos.show("main") == LOCK_V1
