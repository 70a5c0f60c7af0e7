"""Raw HTTP helpers for emulator tests."""

from __future__ import annotations

import httpx

from tests.conftest import API_KEY

IMPORTS = "/websets/v0/imports"
WEBSETS = "/websets/v0/websets"


def api(emu, key: str | None = API_KEY) -> httpx.Client:
    headers = {"x-api-key": key} if key is not None else {}
    return httpx.Client(base_url=emu.base_url, headers=headers, timeout=10)


def create_body(content: bytes = b"url\nhttps://a.example\n", **overrides) -> dict:
    body = {
        "format": "csv",
        "size": len(content),
        "count": 1,
        "entity": {"type": "company"},
        "title": "t",
        "csv": {"identifier": 0},
    }
    body.update(overrides)
    return body


def create_and_upload(client: httpx.Client, content: bytes = b"url\nhttps://a.example\n", **overrides) -> dict:
    created = client.post(IMPORTS, json=create_body(content, **overrides))
    assert created.status_code == 201, created.text
    put = httpx.put(created.json()["uploadUrl"], content=content, headers={"Content-Type": "text/csv"})
    assert put.status_code == 200, put.text
    return created.json()
