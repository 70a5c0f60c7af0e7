"""The console script's basics: version, help, `python -m reconciler`, usage errors and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
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


USAGE_ERRORS = [
    ["--nope"],
    ["no-such-command"],
    ["plan", "--nope"],
    ["plan", "--format", "xml"],
    ["apply", "--parallelism", "0"],
    ["apply", "--lock-timeout", "soon"],
    ["force-unlock"],
    ["validate", "--format", "xml"],
    ["validate", "extra-argument"],
    ["emulator", "--port", "http"],
    ["demo", "--keep"],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=" ".join)
def test_usage_errors_exit_1_not_the_changes_code_2(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in result.stderr


def test_usage_error_through_the_console_script_exits_1():
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--detailed-exitcode", "--nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("Error: No such option '--nope'.")


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["apply", "-h"], ["--version"]], ids=" ".join)
def test_help_and_version_still_exit_0(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert result.stdout


def test_interrupt_during_validate_exits_130_with_one_line(monkeypatch, tmp_path):
    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr("reconciler.cli.manifest.load_manifest", interrupted)
    result = CliRunner().invoke(cli, ["validate", "-f", str(tmp_path / "websets.yaml")])
    assert result.exit_code == 130
    assert result.stderr == "Error: interrupted\n"


def test_sigint_during_plan_exits_130_with_one_line(tmp_path):
    (tmp_path / "websets.yaml").write_text("version: 1\nowner: growth\nimports: {}\n")
    # A server that accepts and never answers holds the plan in its listing until the signal arrives.
    with socket.create_server(("127.0.0.1", 0)) as server:
        env = {**os.environ, "EXA_API_KEY": "k", "EXA_BASE_URL": f"http://127.0.0.1:{server.getsockname()[1]}"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "plan", "-f", str(tmp_path / "websets.yaml")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server.settimeout(60)
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)  # the request has been sent: the plan now waits for the answer
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "Error: interrupted\n"
    assert out == ""


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_wait_that_is_not_a_finite_number_of_seconds_is_a_usage_error(tmp_path, value):
    for option in ("--lock-timeout", "--timeout"):
        result = CliRunner().invoke(cli, ["apply", "-f", str(tmp_path / "websets.yaml"), option, value])
        assert result.exit_code == 1
        assert "is not a finite, non-negative number of seconds" in result.output


def test_a_base_url_with_a_line_break_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", "k" * 20)
    monkeypatch.setenv("EXA_BASE_URL", "http://127.0.0.1:1\nx")
    (tmp_path / "websets.yaml").write_text("version: 1\nowner: o\nimports: {}\n")
    result = CliRunner().invoke(cli, ["plan", "-f", str(tmp_path / "websets.yaml")])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: EXA_BASE_URL holds a control character")
