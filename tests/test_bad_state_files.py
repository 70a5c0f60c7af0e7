"""A broken or hostile lockfile or saved plan is refused with one line naming the file (and line or field),
exit 1, no traceback, nothing written and nothing sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.conftest import API_KEY
from tests.plan.helpers import seed, write_manifest

REBUILD = "(or delete the file: plan and apply rebuild it from the remote stamps)"
TOO_DEEP = "objects and arrays are nested more than 64 levels deep"
BOUNDED_CLI = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    "from reconciler.cli import main; sys.argv[0] = 'websets-reconciler'; main()"
)


def lockfile(**changes) -> dict:
    """A valid lockfile of one import, with some top-level fields changed."""
    entry = {
        "id": "import_1",
        "title": "T a",
        "entity": {"type": "company"},
        "metadata": {},
        "protected": False,
        "csv": {"path": "data.csv", "sha256": "0" * 64, "size": 1, "records": 1, "columns": 2, "identifier": 0},
    }
    document = {"version": 1, "owner": "growth", "lineage": "x", "serial": 1, "journal": [], "imports": {"a": entry}}
    return {**document, **changes}


@pytest.fixture
def repo(emulator, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, ["a"])
    return tmp_path


def refused(*args: str) -> str:
    """Run the CLI; it must fail cleanly with one line on stderr, which is returned."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def in_a_process(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOUNDED_CLI, *args], cwd=root, capture_output=True, text=True, timeout=60
    )


LOCKFILES = {
    "deeply-nested": ("[" * 100_000, f"websets.lock: the lockfile is corrupt: {TOO_DEEP}"),
    "nested-past-the-limit": (
        json.dumps(lockfile(extra=json.loads("[" * 70 + "]" * 70))),
        f"websets.lock: the lockfile is corrupt: {TOO_DEEP}",
    ),
    "nan": (
        json.dumps(lockfile()).replace('"serial": 1', '"serial": NaN'),
        "websets.lock: the lockfile is corrupt: NaN is not a number JSON allows",
    ),
    "lone-surrogate": (
        json.dumps(lockfile()).replace('"T a"', '"T \\ud800"'),
        "websets.lock: the lockfile is corrupt: a string holds the lone surrogate \\ud800, not valid Unicode",
    ),
    "owner-ending-in-a-newline": (
        json.dumps(lockfile(owner="growth\n")),
        "websets.lock: the lockfile is corrupt: owner: 'growth\\n' does not match '^[a-z0-9][a-z0-9_.-]{0,63}$(?!\\\\n)'",
    ),
    "key-ending-in-a-newline": (
        json.dumps(lockfile(imports={"a\n": lockfile()["imports"]["a"]})),
        "websets.lock: the lockfile is corrupt: imports: 'a\\n' does not match '^[a-z0-9][a-z0-9_.-]{0,63}$(?!\\\\n)'",
    ),
    "sha256-ending-in-a-newline": (
        json.dumps(lockfile()).replace("0" * 64, "0" * 64 + "\\n"),
        f"websets.lock: the lockfile is corrupt: imports.a.csv.sha256: '{'0' * 64}\\n' does not match "
        "'^[0-9a-f]{64}$(?!\\\\n)'",
    ),
    "merge-conflict": (
        '{\n  "version": 1,\n<<<<<<< HEAD\n  "serial": 2,\n=======\n  "serial": 3,\n>>>>>>> main\n}\n',
        f"websets.lock:3: resolve the merge conflict in websets.lock {REBUILD}",
    ),
}


@pytest.mark.parametrize("name", sorted(LOCKFILES))
def test_a_broken_lockfile_is_one_line(repo, emulator, name):
    text, expected = LOCKFILES[name]
    (repo / "websets.lock").write_text(text)
    assert refused("plan", "-f", "websets.yaml", "--out", "plan.json") == f"Error: {expected}"
    assert (repo / "websets.lock").read_text() == text
    assert not (repo / "plan.json").exists()


def test_a_lockfile_with_a_byte_order_mark_is_read(repo, emulator):
    seed(emulator, "a")
    import_id = emulator.store.list(200, None)["data"][0]["id"]
    lock = lockfile(imports={"a": {**lockfile()["imports"]["a"], "id": import_id}})
    (repo / "websets.lock").write_bytes(b"\xef\xbb\xbf" + json.dumps(lock).encode())
    result = CliRunner().invoke(cli, ["plan", "-f", "websets.yaml", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["managed"] == 1


@pytest.mark.parametrize(("name", "limit"), [("websets.lock", "256,000,000"), ("plan.json", "256,000,000")])
def test_a_state_file_over_the_size_limit_is_refused_unread(repo, name, limit):
    with open(repo / name, "wb") as f:
        f.truncate(256_000_001)
    args = ["plan", "-f", "websets.yaml"] if name == "websets.lock" else ["apply", "plan.json"]
    assert refused(*args) == f"Error: {name}: the file is 256,000,001 bytes; the limit is {limit}"


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("websets.lock", "fifo", "websets.lock: not a regular file (a FIFO)"),
        ("websets.lock", "dev-zero", "websets.lock: not a regular file (a character device)"),
        ("plan.json", "fifo", "plan.json: not a regular file (a FIFO)"),
        ("plan.json", "dev-zero", "plan.json: not a regular file (a character device)"),
    ],
)
def test_a_state_file_that_is_not_a_regular_file_is_refused_at_once(repo, name, kind, expected):
    if kind == "fifo":
        os.mkfifo(repo / name)
    else:
        os.symlink("/dev/zero", repo / name)
    args = ["plan", "-f", "websets.yaml"] if name == "websets.lock" else ["apply", "plan.json", "--auto-approve"]
    result = in_a_process(repo, *args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"Error: {expected}"]


def _set(path: str, value):
    def change(document: dict) -> None:
        *parents, last = path.split(".")
        target = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value

    return change


SAVED_PLANS = {
    "change-without-fields": (_set("plan.changes", [{}]), "plan.changes.0: 'key' is a required property"),
    "basis-not-a-mapping": (_set("basis", []), "basis: [] is not of type 'object'"),
    "basis-serial-a-string": (
        _set("basis.lock_serial", "3"),
        "basis.lock_serial: '3' is not of type 'integer', 'null'",
    ),
    "targets-a-string": (_set("targets", "a"), "targets: 'a' is not of type 'array', 'null'"),
    "unknown-action": (
        _set("plan.changes.0.action", "destroy"),
        "plan.changes.0.action: 'destroy' is not one of ['create', 'update', 'replace', 'delete', 'adopt', 'move', 'forget', 'refresh', 'noop']",
    ),
    "sha256-ending-in-a-newline": (
        _set("basis.csv.a", "0" * 64 + "\n"),
        f"basis.csv.a: '{'0' * 64}\\n' does not match '^(?:[0-9a-f]{{64}})?$(?!\\\\n)'",
    ),
    "unknown-field": (_set("extra", 1), "(top level): Additional properties are not allowed ('extra' was unexpected)"),
}


@pytest.fixture
def saved_plan(repo) -> dict:
    result = CliRunner().invoke(cli, ["plan", "-f", "websets.yaml", "--out", "plan.json"])
    assert result.exit_code == 0, result.output
    return json.loads((repo / "plan.json").read_text())


@pytest.mark.parametrize("name", sorted(SAVED_PLANS))
def test_a_malformed_saved_plan_names_the_field(repo, emulator, saved_plan, name):
    change, expected = SAVED_PLANS[name]
    change(saved_plan)
    (repo / "plan.json").write_text(json.dumps(saved_plan))
    requests = len(emulator.request_log)
    assert (
        refused("apply", "plan.json", "--auto-approve") == f"Error: plan.json: the saved plan is malformed: {expected}"
    )
    assert len(emulator.request_log) == requests
    assert not (repo / "websets.lock").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000, f"plan.json: not a readable saved plan: {TOO_DEEP}"),
        ('{"kind": ' + "[" * 80 + "]" * 80 + "}", f"plan.json: not a readable saved plan: {TOO_DEEP}"),
        ('{"kind": NaN}', "plan.json: not a readable saved plan: NaN is not a number JSON allows"),
        (
            '{"kind": "websets-reconciler/saved-plan",\n "x": }',
            "plan.json:2:7: not a readable saved plan: Expecting value",
        ),
    ],
    ids=["deep", "nested-past-the-limit", "nan", "syntax"],
)
def test_an_unreadable_saved_plan_is_one_line(repo, emulator, text, expected):
    (repo / "plan.json").write_text(text)
    assert refused("apply", "plan.json", "--auto-approve") == f"Error: {expected}"
    assert emulator.request_log == []
