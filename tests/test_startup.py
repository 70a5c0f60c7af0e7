"""Start-up stays quick: `--help` and `validate` of a valid manifest load neither the HTTP client, nor the
emulator, nor the planner's diff library, nor the full JSON Schema validator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "websets.yaml"
HEAVY = ("httpx", "reconciler.emulator", "deepdiff", "jsonschema")

# Runs the console script's entry point in a fresh interpreter, then writes the names of the modules
# it imported to the file named by the first argument.
_PROBE = """
import json, sys
out, sys.argv = sys.argv[1], ["websets-reconciler", *sys.argv[2:]]
from reconciler.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def imported_by(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    out = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", _PROBE, str(out), *args], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(out.read_text())
    return report["code"], report["modules"]


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("args", [["--help"], ["validate", "-f", str(EXAMPLE)]], ids=["help", "validate"])
def test_help_and_validate_import_no_heavy_module(tmp_path, args):
    code, modules = imported_by(tmp_path, *args)
    assert code in (0, None)
    assert "reconciler.cli" in modules
    assert heavy(modules) == []


def test_help_lists_every_command_without_importing_its_module(tmp_path):
    code, modules = imported_by(tmp_path, "--help")
    assert code in (0, None)
    assert not [m for m in modules if m.startswith("reconciler.cli.") and m != "reconciler.cli.group"]


def test_the_listed_summaries_are_the_commands_own(tmp_path):
    from click.testing import CliRunner

    from reconciler.cli import cli

    listed = CliRunner().invoke(cli, ["--help"]).stdout
    for name, lazy in sorted(cli.lazy_commands.items()):
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None
        assert command.get_short_help_str(10_000) == lazy.summary, name
        assert f"  {name} " in listed


def test_an_invalid_manifest_is_explained_by_the_full_validator(tmp_path):
    manifest = tmp_path / "websets.yaml"
    manifest.write_text("version: 1\nowner: growth\nimports: {}\nowners: x\n")
    code, modules = imported_by(tmp_path, "validate", "-f", str(manifest))
    assert code == 1
    assert "jsonschema" in modules
    assert "httpx" not in modules
