"""The emulator really parses the upload: status, count and each failure reason."""

from __future__ import annotations

import codecs

import httpx
import pytest

from tests.emulator.helpers import IMPORTS, api, create_and_upload


def _status(emulator, import_id: str) -> dict:
    return api(emulator).get(f"{IMPORTS}/{import_id}").json()


def test_lifecycle_pending_processing_completed(make_emulator, clock):
    emulator = make_emulator(clock=clock, processing_delay=30)
    client = api(emulator)
    content = b"name,website\nA,https://a.example\nB,https://b.example\n"
    body = {"format": "csv", "size": len(content), "count": 99, "entity": {"type": "company"}, "csv": {"identifier": 1}}
    created = client.post(IMPORTS, json=body).json()
    assert created["status"] == "pending"
    assert _status(emulator, created["id"])["status"] == "pending"
    assert httpx.put(created["uploadUrl"], content=content).status_code == 200
    processing = _status(emulator, created["id"])
    assert processing["status"] == "processing" and processing["count"] == 99
    clock.advance(30)
    done = _status(emulator, created["id"])
    assert done["status"] == "completed" and done["count"] == 2
    assert done["updatedAt"] > created["updatedAt"]


@pytest.mark.parametrize(
    ("content", "identifier", "reason", "message"),
    [
        (b"url\n\xff\xfe\n", 0, "invalid_file_content", "not valid UTF-8"),
        (b"url\n", 0, "invalid_file_content", "no records"),
        (b"\n\n", 0, "invalid_file_content", "empty"),
        (b"url,name\nhttps://a.example,A\n", 2, "missing_identifier", "not in the header"),
        (b"url,name\nhttps://a.example,A\n,B\n", 0, "missing_identifier", "record 2"),
        (b"url,name\nhttps://a.example,A\nshort\n", 1, "missing_identifier", "record 2"),
        (b"name,notes\nA,x\n", None, "missing_identifier", "could be inferred"),
        (b'url\n"https://a.example\n', 0, "invalid_format", "not valid CSV"),
    ],
)
def test_failure_reasons(emulator, content, identifier, reason, message):
    extra = {"csv": {"identifier": identifier}} if identifier is not None else {"csv": {}}
    created = create_and_upload(api(emulator), content, **extra)
    result = _status(emulator, created["id"])
    assert result["status"] == "failed"
    assert result["failedReason"] == reason
    assert message in result["failedMessage"]
    assert result["failedAt"] is not None


@pytest.mark.parametrize(
    ("content", "count"),
    [
        (b'url,notes\nhttps://a.example,"two\nlines"\nhttps://b.example,x\n', 2),
        (codecs.BOM_UTF8 + b"url\nhttps://a.example\n", 1),
        (b"url\r\nhttps://a.example\r\n\r\nhttps://b.example", 2),
        ("url,name\nhttps://a.example,Zoë\n".encode(), 1),
    ],
)
def test_count_follows_csv_module_records(emulator, content, count):
    created = create_and_upload(api(emulator), content)
    result = _status(emulator, created["id"])
    assert (result["status"], result["count"]) == ("completed", count)


def test_identifier_inferred_from_url_header(emulator):
    created = create_and_upload(api(emulator), b"name,Website\nA,https://a.example\n", csv={})
    assert _status(emulator, created["id"])["status"] == "completed"
