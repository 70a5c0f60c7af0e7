"""Every request rule of the spec is a 400 naming the field; auth is a 401; unknown ids a 404."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import IMPORTS, api, create_body

BAD_CREATES = [
    ({"surprise": 1}, "surprise", "unknown field"),
    ({"format": "webset"}, "format", "must be 'csv'"),
    ({"format": None}, "format", "must be 'csv'"),
    ({"entity": {"type": "compnay"}}, "entity.type", "must be one of"),
    ({"entity": "company"}, "entity", "must be an object"),
    ({"entity": {"type": "custom"}}, "entity.description", "2 to 200"),
    ({"entity": {"type": "custom", "description": "x"}}, "entity.description", "2 to 200"),
    ({"entity": {"type": "custom", "description": "x" * 201}}, "entity.description", "2 to 200"),
    ({"entity": {"type": "company", "description": "extra"}}, "entity.description", "unknown field"),
    ({"size": 0}, "size", "at least 1"),
    ({"size": 50_000_001}, "size", "at most 50000000"),
    ({"size": 12.5}, "size", "whole number"),
    ({"size": "12"}, "size", "whole number"),
    ({"size": True}, "size", "whole number"),
    ({"count": -1}, "count", "at least 0"),
    ({"metadata": {"k": "v" * 1001}}, "metadata.k", "at most 1000"),
    ({"metadata": {"k": 1}}, "metadata.k", "must be a string"),
    ({"metadata": ["k"]}, "metadata", "must be an object"),
    ({"csv": {"identifier": -1}}, "csv.identifier", "at least 0"),
    ({"csv": {"identifier": "url"}}, "csv.identifier", "whole number"),
    ({"csv": {"column": 1}}, "csv.column", "unknown field"),
    ({"title": 5}, "title", "must be a string"),
]


@pytest.mark.parametrize(("override", "field", "message"), BAD_CREATES, ids=[b[1] + ":" + b[2] for b in BAD_CREATES])
def test_create_rejects(emulator, override, field, message):
    response = api(emulator).post(IMPORTS, json=create_body(**override))
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["message"].startswith(f"{field}: ")
    assert message in body["error"]["message"]
    assert body["error"]["detail"] == {"field": field}
    assert body["requestId"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize("missing", ["size", "count", "format", "entity"])
def test_create_requires(emulator, missing):
    body = create_body()
    del body[missing]
    response = api(emulator).post(IMPORTS, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"{missing}: is required"


def test_create_accepts_whole_floats_and_boundaries(emulator):
    client = api(emulator)
    ok = client.post(IMPORTS, json=create_body(size=50_000_000.0, count=0.0, csv={"identifier": 0}))
    assert ok.status_code == 201
    custom = client.post(IMPORTS, json=create_body(entity={"type": "custom", "description": "ab"}))
    assert custom.status_code == 201
    assert custom.json()["entity"] == {"type": "custom", "description": "ab"}


def test_body_that_is_not_json(emulator):
    response = api(emulator).post(IMPORTS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"format": "csv"}, "format"), ({"title": 1}, "title"), ({"metadata": {"a": "x" * 1001}}, "metadata.a")],
)
def test_update_rejects(emulator, body, field):
    client = api(emulator)
    created = client.post(IMPORTS, json=create_body()).json()
    response = client.patch(f"{IMPORTS}/{created['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["detail"] == {"field": field}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "eyJzIjogNX0.000000000000000000000000"}, "cursor"),
        ({"page": "2"}, "page"),
    ],
)
def test_list_rejects(emulator, query, field):
    response = api(emulator).get(IMPORTS, params=query)
    assert response.status_code == 400
    assert response.json()["error"]["detail"] == {"field": field}


def test_list_default_limit_is_25(emulator):
    client = api(emulator)
    for _ in range(26):
        client.post(IMPORTS, json=create_body())
    page = client.get(IMPORTS).json()
    assert len(page["data"]) == 25 and page["hasMore"] is True


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_id_is_404(emulator, method):
    response = api(emulator).request(method, f"{IMPORTS}/import_missing", json={} if method == "PATCH" else None)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_api_key_is_required(emulator, key):
    for method, path in [("GET", IMPORTS), ("POST", IMPORTS), ("GET", f"{IMPORTS}/x"), ("DELETE", f"{IMPORTS}/x")]:
        response = api(emulator, key=key).request(method, path, json=create_body() if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert response.headers["X-Request-Id"].startswith("req_")
    assert all(e["status"] == 401 for e in emulator.request_log)
    assert all(e["api_key_present"] is (key is not None) for e in emulator.request_log)


def test_every_response_has_a_request_id(emulator):
    client = api(emulator)
    responses = [client.get(IMPORTS), client.get("/nowhere"), client.post(IMPORTS, json=create_body())]
    ids = {r.headers["X-Request-Id"] for r in responses}
    assert len(ids) == 3
