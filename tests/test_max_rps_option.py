"""`--max-rps` on plan and apply: its help, its checks, and the rate the API client gets."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.remote.client import DEFAULT_MAX_RPS, ApiClient
from tests.apply.helpers import rows, write_files


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_the_help_gives_the_default_and_how_to_turn_pacing_off(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0
    assert "--max-rps RPS" in text
    assert f"[default: {DEFAULT_MAX_RPS:g}; 0: no pacing]" in text


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("value", ["-1", "nan", "inf", "fast"])
def test_a_rate_that_is_not_a_finite_number_from_zero_is_a_usage_error(command, value):
    result = CliRunner().invoke(cli, [command, "--max-rps", value])
    assert result.exit_code == 1 and result.stdout == ""
    assert "--max-rps" in result.output and "requests a second" in result.output


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, None),
        (["--max-rps", "2.5"], {}, 2.5),
        (["--max-rps", "0"], {}, 0.0),
        ([], {"WEBSETS_MAX_RPS": "3"}, 3.0),
    ],
)
def test_the_rate_reaches_the_api_client(command, args, env, expected, tmp_path, monkeypatch):
    monkeypatch.delenv("WEBSETS_MAX_RPS", raising=False)
    manifest = write_files(tmp_path, {"a": rows(1)})
    given: list[object] = []

    def from_env(cls, env=None, **options):
        given.append(options.get("max_rps", "absent"))
        raise SystemExit(0)  # no API needed: only what the command asked for is checked

    monkeypatch.setattr(ApiClient, "from_env", classmethod(from_env))
    extra = ["--auto-approve"] if command == "apply" else []
    CliRunner().invoke(cli, [command, "-f", str(manifest), *extra, *args], env=env)
    assert given == [expected]
    assert ApiClient("https://api.example.com", "k" * 8, max_rps=expected).budget.rate == (
        DEFAULT_MAX_RPS if expected is None else expected
    )
