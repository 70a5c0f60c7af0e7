"""The API's rate limit and throttle never meet an upload (the object store is not under the API's
per-team limit); the upload host has throttling of its own, answered as S3 answers it."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from reconciler.emulator import FaultConfig, Rate
from reconciler.emulator import faults as faults_module
from reconciler.emulator.faults import FaultInjector
from tests.emulator.helpers import IMPORTS, api, create_body

CONTENT = b"url\nhttps://a.example\n"


def _freeze_rate_windows(monkeypatch) -> None:
    """Every request falls in one and the same second, so rate-limit windows never roll over mid-test."""
    monkeypatch.setattr(faults_module, "time", SimpleNamespace(monotonic=lambda: 1000.0))


def test_the_rps_limit_counts_api_requests_and_never_answers_an_upload(make_emulator, monkeypatch):
    _freeze_rate_windows(monkeypatch)
    emulator = make_emulator(faults=FaultConfig(rps_limit=2))
    client = api(emulator)
    created = [client.post(IMPORTS, json=create_body(CONTENT)).json() for _ in range(2)]
    puts = [httpx.put(c["uploadUrl"], content=CONTENT) for c in created]
    assert [p.status_code for p in puts] == [200, 200]
    assert client.get(IMPORTS).status_code == 429  # the third API request in that second
    assert [e["fault"] for e in emulator.request_log if e["method"] == "PUT"] == [None, None]


def test_the_api_throttle_never_meets_an_upload(make_emulator):
    emulator = make_emulator()
    client = api(emulator)
    created = client.post(IMPORTS, json=create_body(CONTENT)).json()
    emulator.faults = FaultInjector(FaultConfig(throttle=Rate(1.0)))
    assert client.get(IMPORTS).status_code == 429
    upload = httpx.put(created["uploadUrl"], content=CONTENT)
    assert upload.status_code == 200 and "Retry-After" not in upload.headers
    assert emulator.store.uploaded_file(created["id"]) == CONTENT


def test_the_upload_host_is_throttled_by_its_own_option_as_s3_throttles(make_emulator):
    emulator = make_emulator(faults=FaultConfig(upload_throttle=1.0))
    client = api(emulator)
    created = client.post(IMPORTS, json=create_body(CONTENT)).json()
    upload = httpx.put(created["uploadUrl"], content=CONTENT)
    assert upload.status_code == 503 and upload.json()["error"]["code"] == "SlowDown"
    assert "Retry-After" not in upload.headers
    assert emulator.store.uploaded_file(created["id"]) is None
    assert client.get(f"{IMPORTS}/{created['id']}").json()["status"] == "pending"
    assert [e["fault"] for e in emulator.request_log] == [None, "upload_throttle", None]


def test_the_upload_rps_limit_has_its_own_window(make_emulator, monkeypatch):
    _freeze_rate_windows(monkeypatch)
    emulator = make_emulator(faults=FaultConfig(upload_rps_limit=1, rps_limit=3))
    client = api(emulator)
    created = [client.post(IMPORTS, json=create_body(CONTENT)).json() for _ in range(2)]
    statuses = [httpx.put(c["uploadUrl"], content=CONTENT).status_code for c in created]
    assert statuses == [200, 503]
    assert client.get(IMPORTS).status_code == 200  # the third API request: uploads took none of its share
    assert client.get(IMPORTS).status_code == 429
    assert [e["fault"] for e in emulator.request_log if e["method"] == "PUT"] == [None, "upload_rate_limit"]


def test_an_api_throttle_aimed_at_uploads_is_refused():
    with pytest.raises(ValueError, match="upload_throttle"):
        FaultConfig(throttle=Rate(0.5, frozenset({"PUT", "GET"})))
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultConfig(upload_throttle=1.5)
