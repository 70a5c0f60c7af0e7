"""Atomic writes: the temp file carries its writer's pid, and what a killed writer left is removed."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import files
from reconciler.files import write_atomically


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_the_temp_file_is_named_for_its_writer(tmp_path, monkeypatch):
    renamed: list[str] = []
    replace = os.replace

    def spy(src, dst):
        renamed.append(Path(src).name)
        replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    write_atomically(tmp_path / "websets.lock", "{}\n")
    (name,) = renamed
    assert re.fullmatch(rf"\.websets\.lock\.{os.getpid()}\.[a-z0-9_]+\.tmp", name), name
    assert (tmp_path / "websets.lock").read_text() == "{}\n"
    assert _temps(tmp_path) == []


def test_a_dead_writers_temp_is_removed_and_nothing_else(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".websets.lock.{dead}.k3x9_q2a.tmp"
    stale.write_text('{"half": ')
    untouched = [
        f".plan.json.{dead}.abcdefgh.tmp",  # another target's
        f"websets.lock.{dead}.abcdefgh.tmp",  # not a hidden temp
        f".websets.lock.{dead}.abcdefgh",  # no .tmp suffix
        ".websets.lock.notapid.abcdefgh.tmp",
        f".websets.lock.held.{dead}.abcdefgh.tmp",
        "websets.lock.held",
    ]
    for name in untouched:
        (tmp_path / name).write_text("x")
    write_atomically(tmp_path / "websets.lock", "{}\n")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*untouched, "websets.lock"])


def test_a_live_writers_temp_is_kept_until_it_exits(tmp_path):
    # The child blocks on its stdin, so it is alive exactly until the pipe is closed.
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        theirs = tmp_path / f".websets.lock.{child.pid}.abcdefgh.tmp"
        ours = tmp_path / f".websets.lock.{os.getpid()}.abcdefgh.tmp"
        theirs.write_text("in progress")
        ours.write_text("in progress")
        write_atomically(tmp_path / "websets.lock", "{}\n")
        assert theirs.exists() and ours.exists()
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    write_atomically(tmp_path / "websets.lock", "{}\n")
    assert not theirs.exists()
    assert ours.exists()


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from reconciler import files

def fsync(fd):
    print("writing", flush=True)
    sys.stdin.read()  # held here, mid-write, until killed

files.os.fsync = fsync
files.write_atomically(Path(sys.argv[1]), "new\\n")
"""


def test_a_write_killed_midway_leaves_a_temp_the_next_write_removes(tmp_path):
    target = tmp_path / "websets.lock"
    target.write_text("old\n")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "writing\n"
        (left,) = _temps(tmp_path)
        assert left.startswith(f".websets.lock.{child.pid}.")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdin.close()
        child.stdout.close()
    assert target.read_text() == "old\n"
    write_atomically(target, "newer\n")
    assert target.read_text() == "newer\n"
    assert _temps(tmp_path) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupted_write_leaves_no_temp_and_the_old_content(tmp_path, monkeypatch, error):
    target = tmp_path / "websets.lock"
    target.write_text("old\n")

    def fsync(fd):
        raise error()

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(error):
        write_atomically(target, "new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["websets.lock"]


def test_a_failed_rename_leaves_no_temp(tmp_path):
    target = tmp_path / "websets.lock"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(OSError):
        write_atomically(target, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["websets.lock"]


def test_a_new_file_gets_the_usual_mode_and_an_existing_one_keeps_its_own(tmp_path):
    """Written through a temp file, a lockfile must still be readable by the team, not private to its writer."""
    mask = os.umask(0o022)
    os.umask(mask)
    fresh = tmp_path / "websets.lock"
    write_atomically(fresh, "{}\n")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~mask
    fresh.chmod(0o640)
    write_atomically(fresh, "{}\n")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
