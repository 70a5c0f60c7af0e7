"""exa-py drives the emulator through every imports method, sync and async, unchanged: the release pinned
in pyproject.toml (in this venv) and the newest one (in .venv-sdk-newest), which adds list_all/get_all."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import API_KEY, ROOT
from tests.sdk.environments import NEWEST_REQUIREMENTS

SCRIPT = Path(__file__).with_name("exercise_exa_py.py")
PINNED = re.search(r'"exa-py==([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
NEWEST = re.search(r"^exa-py==(\S+)$", NEWEST_REQUIREMENTS.read_text(), re.MULTILINE).group(1)
METHODS = {"create", "create(csv_data)", "get", "list", "update", "delete", "wait_until_completed"}
EVERY = METHODS | {f"async {m}" for m in METHODS}
PAGINATORS = {"list_all", "get_all", "async list_all", "async get_all"}


def _exercise(python: Path | str, emulator) -> dict:
    result = subprocess.run(
        [str(python), str(SCRIPT), emulator.base_url, API_KEY], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_served_cleanly(emulator) -> None:
    log = emulator.request_log
    assert all(e["status"] is not None and e["status"] < 500 for e in log), log
    routes = {(e["method"], e["path"].startswith("/websets/v0/imports/")) for e in log}
    assert routes >= {("POST", False), ("GET", False), ("GET", True), ("PATCH", True), ("DELETE", True)}
    uploads = [e for e in log if e["method"] == "PUT"]
    assert len(uploads) == 3  # two creates with csv_data and one by hand
    assert all(e["status"] == 200 and not e["api_key_present"] for e in uploads)


def test_the_pinned_exa_py_drives_every_imports_method(emulator):
    report = _exercise(sys.executable, emulator)
    assert report == {"version": PINNED, "exercised": sorted(EVERY)}
    _assert_served_cleanly(emulator)


def test_the_newest_exa_py_drives_every_imports_method_and_its_paginators(emulator, newest_python):
    report = _exercise(newest_python, emulator)
    assert report == {"version": NEWEST, "exercised": sorted(EVERY | PAGINATORS)}
    _assert_served_cleanly(emulator)
