"""exa-js, pinned by version and lockfile, drives the emulator through every imports method with `node`
(required: its absence fails these tests). Its record count (non-blank lines) is one more than the
records parsed when a field holds a newline; each declared-count choice of the emulator shows what that
costs an exa-js user."""

from __future__ import annotations

import json
import subprocess

import pytest

from reconciler.emulator.choices import DECLARED_COUNTS
from tests.conftest import API_KEY
from tests.sdk.environments import node

METHODS = ["create", "create(csv)", "delete", "get", "getAll", "list", "listAll", "update", "waitUntilCompleted"]


def _pinned(js_dir) -> str:
    return json.loads((js_dir / "package.json").read_text())["dependencies"]["exa-js"]


@pytest.mark.parametrize("declared_count", DECLARED_COUNTS)
def test_exa_js_drives_every_imports_method(make_emulator, js_dir, declared_count):
    emulator = make_emulator(declared_count=declared_count)
    command = [node(), "exercise.mjs", emulator.base_url, API_KEY, declared_count]
    result = subprocess.run(command, cwd=js_dir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"version": _pinned(js_dir), "exercised": METHODS}
    lock = json.loads((js_dir / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/exa-js"]["version"] == report["version"]
    uploads = [e for e in emulator.request_log if e["method"] == "PUT"]
    assert len(uploads) == 2 and all(e["status"] == 200 and not e["api_key_present"] for e in uploads)
    assert all(e["status"] is not None and e["status"] < 500 for e in emulator.request_log)
