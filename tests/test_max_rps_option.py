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


def _with_api(manifest, api: str):
    text = manifest.read_text().replace("imports:", f"api: {api}\nimports:", 1)
    manifest.write_text(text)
    return manifest


@pytest.mark.parametrize(("chosen", "expected"), [(None, 3.0), (5.0, 5.0), (0.0, 0.0)])
def test_the_manifests_rate_holds_unless_the_command_line_chose_one(chosen, expected, emulator, tmp_path):
    from reconciler.refresh import read_snapshot
    from tests.apply.helpers import API_KEY

    manifest = _with_api(write_files(tmp_path, {"a": rows(1)}), "{max_rps: 3}")
    with ApiClient(emulator.base_url, API_KEY, max_rps=chosen) as client:
        snapshot = read_snapshot(str(manifest), client)
        assert snapshot.manifest.max_rps == 3
        assert client.budget.rate == expected


def test_a_manifest_without_a_rate_keeps_the_default(emulator, tmp_path):
    from reconciler.refresh import read_snapshot
    from tests.apply.helpers import API_KEY

    manifest = write_files(tmp_path, {"a": rows(1)})
    with ApiClient(emulator.base_url, API_KEY) as client:
        assert read_snapshot(str(manifest), client).manifest.max_rps is None
        assert client.budget.rate == DEFAULT_MAX_RPS


@pytest.mark.parametrize(
    ("api", "message"),
    [
        ("{max_rps: -1}", "api.max_rps"),
        ("{max_rps: fast}", "api.max_rps"),
        ("{max_rsp: 3}", "max_rsp"),
    ],
)
def test_a_bad_rate_in_the_manifest_is_one_line_naming_the_file_line_and_field(api, message, tmp_path):
    manifest = _with_api(write_files(tmp_path, {"a": rows(1)}), api)
    result = CliRunner().invoke(cli, ["validate", "-f", str(manifest)])
    assert result.exit_code == 1
    line = [x for x in result.output.splitlines() if message in x]
    assert line and line[0].startswith(f"{manifest}:5:"), result.output
