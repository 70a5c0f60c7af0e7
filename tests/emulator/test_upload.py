"""The upload URL: one PUT of exactly the declared bytes, before it expires, never with the API key."""

from __future__ import annotations

import httpx

from tests.emulator.helpers import IMPORTS, api, create_body

CONTENT = b"url\nhttps://a.example\n"


def _create(emulator) -> dict:
    response = api(emulator).post(IMPORTS, json=create_body(CONTENT))
    assert response.status_code == 201
    return response.json()


def test_upload_url_is_unguessable_and_on_the_emulator(emulator):
    urls = {_create(emulator)["uploadUrl"] for _ in range(5)}
    assert len(urls) == 5
    for url in urls:
        assert url.startswith(emulator.base_url + "/uploads/")
        assert len(url.rsplit("/", 1)[1]) >= 40


def test_upload_then_reuse_is_403(emulator):
    created = _create(emulator)
    first = httpx.put(created["uploadUrl"], content=CONTENT)
    assert first.status_code == 200
    again = httpx.put(created["uploadUrl"], content=CONTENT)
    assert again.status_code == 403
    assert "already been used" in again.json()["error"]["message"]


def test_upload_after_expiry_is_403(make_emulator, clock):
    emulator = make_emulator(clock=clock, upload_valid_for=60)
    created = _create(emulator)
    clock.advance(61)
    response = httpx.put(created["uploadUrl"], content=CONTENT)
    assert response.status_code == 403
    assert "expired" in response.json()["error"]["message"]
    assert api(emulator).get(f"{IMPORTS}/{created['id']}").json()["status"] == "pending"


def test_upload_valid_until_is_reported(make_emulator, clock):
    emulator = make_emulator(clock=clock, upload_valid_for=60)
    created = _create(emulator)
    assert created["uploadValidUntil"] == "2027-01-15T08:01:00.000Z"
    assert created["createdAt"] == "2027-01-15T08:00:00.000Z"


def test_upload_with_wrong_length_is_rejected_and_can_be_retried(emulator):
    created = _create(emulator)
    short = httpx.put(created["uploadUrl"], content=CONTENT[:-1])
    assert short.status_code == 400
    assert f"declared size {len(CONTENT)}" in short.json()["error"]["message"]
    assert httpx.put(created["uploadUrl"], content=CONTENT).status_code == 200


def test_upload_with_api_key_is_rejected(emulator):
    created = _create(emulator)
    response = httpx.put(created["uploadUrl"], content=CONTENT, headers={"x-api-key": "test-key"})
    assert response.status_code == 400
    assert "must not be sent an x-api-key header" in response.json()["error"]["message"]
    assert api(emulator).get(f"{IMPORTS}/{created['id']}").json()["status"] == "pending"
    assert emulator.request_log[-2]["api_key_present"] is True


def test_upload_without_content_length_is_411(emulator):
    created = _create(emulator)

    def chunks():
        yield CONTENT

    response = httpx.put(created["uploadUrl"], content=chunks())
    assert response.status_code == 411


def test_unknown_upload_token_is_403(emulator):
    response = httpx.put(emulator.base_url + "/uploads/nope", content=CONTENT)
    assert response.status_code == 403


def test_upload_token_never_in_request_log(emulator):
    created = _create(emulator)
    httpx.put(created["uploadUrl"], content=CONTENT)
    token = created["uploadUrl"].rsplit("/", 1)[1]
    assert token not in repr(emulator.request_log).replace(created["uploadUrl"], "")
    assert [e["path"] for e in emulator.request_log if e["method"] == "PUT"] == ["/uploads/{token}"]


def test_deleted_import_cannot_be_uploaded_to(emulator):
    created = _create(emulator)
    api(emulator).delete(f"{IMPORTS}/{created['id']}")
    assert httpx.put(created["uploadUrl"], content=CONTENT).status_code == 403
