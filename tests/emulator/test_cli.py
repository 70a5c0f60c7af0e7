"""The `emulator` command: starts on a free port, answers, and rejects bad options cleanly."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from reconciler.emulator.process import emulator_process
from tests.conftest import API_KEY


def test_emulator_command_serves_and_logs(tmp_path):
    log = tmp_path / "requests.jsonl"
    options = ("--api-key", API_KEY, "--request-log", str(log), "--throttle-rate", "1:DELETE", "--retry-after", "3")
    with emulator_process(*options) as served:
        base = served.base_url
        ok = httpx.get(base + "/websets/v0/imports", headers={"x-api-key": API_KEY})
        assert ok.status_code == 200 and ok.json() == {"data": [], "hasMore": False, "nextCursor": None}
        throttled = httpx.delete(base + "/websets/v0/imports/x", headers={"x-api-key": API_KEY})
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["method"], e["status"], e["api_key_present"]) for e in entries] == [
        ("GET", 200, True),
        ("DELETE", 429, True),
    ]
    assert API_KEY not in log.read_text()


def test_emulator_rejects_bad_options():
    for args, needle in [
        (["--host", "0.0.0.0"], "loopback only"),
        (["--error-rate", "2"], "between 0 and 1"),
        (["--lose-rate", "0.1:FETCH"], "unknown method"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", "emulator", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode != 0
        assert needle in result.stderr
        assert "Traceback" not in result.stderr
