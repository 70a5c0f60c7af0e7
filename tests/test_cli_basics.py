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


def test_demo_shows_the_emulator_answering():
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "-> 200" in result.output
