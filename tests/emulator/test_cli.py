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
        (["--throttle-rate", "0.5:GET,PUT"], "--upload-throttle-rate"),
        (["--upload-throttle-rate", "2"], "--upload-throttle-rate"),
        (["--metadata-update", "patch"], "'replace', 'merge'"),
        (["--expired-upload", "gone"], "'pending', 'failed', 'canceled', 'deleted'"),
        (["--declared-count", "ignore"], "'correct', 'keep', 'reject'"),
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


def test_emulator_command_answers_each_open_question_as_told(tmp_path):
    options = ("--api-key", API_KEY, "--metadata-update", "merge", "--declared-count", "reject")
    options += ("--expired-upload", "canceled", "--upload-valid-for", "0", "--upload-throttle-rate", "1")
    content = b"url\nhttps://a.example\n"
    headers = {"x-api-key": API_KEY}
    body = {"format": "csv", "size": len(content), "count": 1, "entity": {"type": "company"}, "metadata": {"a": "1"}}
    with emulator_process(*options) as served:
        imports = served.base_url + "/websets/v0/imports"
        created = httpx.post(imports, json=body, headers=headers).json()
        merged = httpx.patch(f"{imports}/{created['id']}", json={"metadata": {"b": "2"}}, headers=headers).json()
        assert merged["metadata"] == {"a": "1", "b": "2"}
        upload = httpx.put(created["uploadUrl"], content=content)
        assert upload.status_code == 503 and upload.json()["error"]["code"] == "SlowDown"
        assert httpx.get(f"{imports}/{created['id']}", headers=headers).json()["status"] == "canceled"
