"""Seeded faults: each mode, its method filter, and reproducibility."""

from __future__ import annotations

import time

import httpx
import pytest

from reconciler.emulator import FaultConfig, Latency, Rate
from reconciler.emulator.faults import FaultInjector
from tests.emulator.helpers import IMPORTS, api, create_body


def test_errors_make_no_change_and_respect_methods(make_emulator):
    emulator = make_emulator(faults=FaultConfig(errors=Rate(1.0, frozenset({"POST"}))))
    client = api(emulator)
    statuses = {client.post(IMPORTS, json=create_body()).status_code for _ in range(20)}
    assert statuses == {500, 503}
    listing = client.get(IMPORTS)
    assert listing.status_code == 200 and listing.json()["data"] == []


def test_throttle_answers_429_with_retry_after(make_emulator):
    emulator = make_emulator(faults=FaultConfig(throttle=Rate(1.0, frozenset({"GET"})), retry_after=7))
    response = api(emulator).get(IMPORTS)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert api(emulator).post(IMPORTS, json=create_body()).status_code == 201


def test_rps_limit(make_emulator):
    emulator = make_emulator(faults=FaultConfig(rps_limit=5))
    client = api(emulator)
    statuses = [client.get(IMPORTS).status_code for _ in range(12)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses
    limited = next(e for e in emulator.request_log if e["status"] == 429)
    assert limited["fault"] == "rate_limit"


def test_lost_response_still_makes_the_change(make_emulator):
    emulator = make_emulator(faults=FaultConfig(lose=Rate(1.0, frozenset({"POST"}))))
    client = api(emulator)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(IMPORTS, json=create_body(title="ghost"))
    listing = api(emulator).get(IMPORTS).json()["data"]
    assert [item["title"] for item in listing] == ["ghost"]
    assert emulator.request_log[0]["fault"] == "lose" and emulator.request_log[0]["status"] is None


def test_lost_upload_response_still_stores_the_file(make_emulator):
    emulator = make_emulator(faults=FaultConfig(lose=Rate(1.0, frozenset({"PUT"}))))
    content = b"url\nhttps://a.example\n"
    created = api(emulator).post(IMPORTS, json=create_body(content)).json()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.put(created["uploadUrl"], content=content)
    assert emulator.store.uploaded_file(created["id"]) == content


def test_latency_applies_to_selected_methods_only(make_emulator):
    emulator = make_emulator(faults=FaultConfig(latency=Latency(150, 0, frozenset({"GET"}))))
    client = api(emulator)
    started = time.perf_counter()
    client.get(IMPORTS)
    assert time.perf_counter() - started >= 0.15
    injector = FaultInjector(FaultConfig(latency=Latency(20, 10, frozenset({"GET"}))))
    delays = [injector.decide("GET", IMPORTS).delay for _ in range(50)]
    assert all(0.020 <= d <= 0.030 for d in delays) and len(set(delays)) > 1
    assert injector.decide("POST", IMPORTS).delay == 0


def _statuses(make_emulator, seed: int) -> list[int]:
    emulator = make_emulator(faults=FaultConfig(seed=seed, errors=Rate(0.3), throttle=Rate(0.2)))
    client = api(emulator)
    return [client.get(IMPORTS).status_code for _ in range(40)]


def test_faults_are_reproducible_by_seed(make_emulator):
    first, again, other = _statuses(make_emulator, 1), _statuses(make_emulator, 1), _statuses(make_emulator, 2)
    assert first == again
    assert first != other
    assert {200, 429} <= set(first) and set(first) & {500, 503}


def test_fault_specs_parse():
    assert Rate.parse("0.2:post,put") == Rate(0.2, frozenset({"POST", "PUT"}))
    assert Rate.parse("0.5") == Rate(0.5, None)
    assert Latency.parse("20:GET", 5) == Latency(20, 5, frozenset({"GET"}))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Rate.parse("1.5")
    with pytest.raises(ValueError, match="unknown method"):
        Rate.parse("0.1:FETCH")


def test_an_internal_error_is_a_500_with_a_request_id(emulator, monkeypatch):
    def broken(import_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(emulator.store, "get", broken)
    response = api(emulator).get(f"{IMPORTS}/import_x")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["requestId"] == response.headers["X-Request-Id"]
    assert "disk on fire" not in response.text
