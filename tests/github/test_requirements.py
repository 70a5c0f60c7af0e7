"""The action's hash-pinned requirements: every runtime dependency of pyproject.toml, pinned with hashes for
each Python the action supports, and the install step that uses them."""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT
from tests.github.runner import ACTION

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli where the standard library has no tomllib
    import tomli as tomllib

REQUIREMENTS = ROOT / ".github" / "requirements" / "action.txt"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _pins() -> list[tuple[Requirement, list[str]]]:
    """Each requirement of the file with its hashes (continuation lines joined, comments left out)."""
    text = re.sub(r"\\\n\s*", " ", REQUIREMENTS.read_text())
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)
        pins.append((Requirement(re.sub(r"\s*--hash=\S+", "", line).strip()), hashes))
    return pins


def _applicable(python: str) -> dict[str, tuple[Requirement, list[str]]]:
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    found: dict[str, tuple[Requirement, list[str]]] = {}
    for requirement, hashes in _pins():
        if requirement.marker is None or requirement.marker.evaluate(environment):
            name = canonicalize_name(requirement.name)
            assert name not in found, f"{name} is pinned twice for Python {python}"
            found[name] = (requirement, hashes)
    return found


def _runtime_dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(d) for d in project["dependencies"]]


def test_every_pin_is_exact_and_hashed():
    pins = _pins()
    assert len(pins) > len(_runtime_dependencies())
    for requirement, hashes in pins:
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{requirement}: pinned to one version"
        assert hashes, f"{requirement}: pinned with its hashes"


@pytest.mark.parametrize("python", PYTHONS)
def test_every_runtime_dependency_is_pinned_within_its_range(python):
    pinned = _applicable(python)
    for dependency in _runtime_dependencies():
        if dependency.marker is not None and not dependency.marker.evaluate({"python_version": python}):
            continue
        name = canonicalize_name(dependency.name)
        assert name in pinned, f"{name} (a dependency of pyproject.toml) is missing for Python {python}: compile again"
        (specifier,) = pinned[name][0].specifier
        assert dependency.specifier.contains(Version(specifier.version)), (
            f"{name}=={specifier.version} is outside pyproject.toml's {dependency.specifier}: compile again"
        )
    # The build backend of the --no-build-isolation install, recent enough to build a wheel on its own.
    (setuptools,) = pinned["setuptools"][0].specifier
    assert Version(setuptools.version) >= Version("70.1")
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert all(Requirement(r).specifier.contains(Version(setuptools.version)) for r in build)


def test_the_action_installs_from_the_pins_only():
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    (install,) = [s for s in steps if s.get("name") == "Install websets-reconciler"]
    commands = re.sub(r"\\\n\s*", " ", install["run"])
    pip = [line.strip() for line in commands.splitlines() if line.strip().startswith("python -m pip")]
    assert len(pip) == 2
    assert "--require-hashes" in pip[0] and "--only-binary=:all:" in pip[0]
    assert '-r "$WSR_ACTION_PATH/.github/requirements/action.txt"' in pip[0]
    assert "--no-deps" in pip[1] and "--no-build-isolation" in pip[1] and pip[1].endswith('"$WSR_ACTION_PATH"')
    assert "version" not in yaml.safe_load(ACTION.read_text())["inputs"]  # the commit is the version
