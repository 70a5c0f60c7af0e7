"""The console script's basics: version, help, and `python -m reconciler`."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from reconciler import __version__
from reconciler.cli import cli


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"websets-reconciler, version {__version__}"


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "reconciler", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "emulator" in result.stdout


def test_demo_runs_the_whole_job_on_the_example(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--keep", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Plan: 6 to create, 0 to update, 0 to replace, 0 to delete." in result.output
    assert "Apply complete: 6 created, 0 updated, 0 replaced, 0 deleted." in result.output
    assert "Apply complete: 0 created, 1 updated, 1 replaced, 0 deleted." in result.output
    assert result.output.rstrip().endswith("No changes.")
    assert (tmp_path / "websets-demo" / "websets.lock").exists()
    assert not (tmp_path / "websets-demo" / "websets.lock.held").exists()
