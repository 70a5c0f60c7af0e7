"""Answers the tool cannot use are one-line errors naming the request, never a traceback further on."""

from __future__ import annotations

import httpx
import pytest

from reconciler.errors import ApiError
from reconciler.remote.client import OutcomeUnknown
from reconciler.remote.state import parse_time, read_remote
from tests.remote.test_client import _import, client_with, created, ok

LIST = "GET /websets/v0/imports"
ONE = "GET /websets/v0/imports/import_1"


def _page(items, **fields):
    return ok({"data": items, "hasMore": False, "nextCursor": None, **fields}, **{"X-Request-Id": "req_9"})


def _without(field: str, **changes) -> dict:
    item = {**_import("d"), **changes}
    item.pop(field, None)
    return item


def test_a_body_that_is_not_json_names_the_request():
    client, _, _ = client_with([httpx.Response(200, text="<html>maintenance</html>", headers={"X-Request-Id": "r7"})])
    with pytest.raises(ApiError) as caught:
        client.get("import_1")
    assert str(caught.value) == f"{ONE}: HTTP 200: the answer is not JSON (request id r7)"


@pytest.mark.parametrize("status", [200, 500])
def test_an_answer_nested_past_any_limit_is_one_line(status):
    deep = "[" * 200_000 + "]" * 200_000
    client, _, _ = client_with([httpx.Response(status, text=deep, headers={"X-Request-Id": "r8"})] * 6)
    with pytest.raises(ApiError) as caught:
        client.get("import_1")
    assert str(caught.value).startswith(f"{ONE}: HTTP {status}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ({"hasMore": False}, "data: missing"),
        ({"data": {}, "hasMore": False}, "data: not a list"),
        ({"data": []}, "hasMore: missing"),
        ({"data": [], "hasMore": False, "nextCursor": 3}, "nextCursor: not a string (int)"),
        ([], "the answer: not an object"),
    ],
)
def test_a_list_page_of_the_wrong_shape(page, problem):
    client, _, _ = client_with([ok(page, **{"X-Request-Id": "req_9"})])
    with pytest.raises(ApiError) as caught:
        read_remote(client)
    assert str(caught.value) == f"{LIST}: HTTP 200: unusable answer: {problem} (request id req_9)"


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (_without("createdAt"), "data[3].createdAt: missing"),
        (_without("id"), "data[3].id: missing"),
        (_without("status"), "data[3].status: missing"),
        ({**_import("d"), "status": 7}, "data[3].status: not a string (int)"),
        ({**_import("d"), "createdAt": "yesterday"}, "data[3].createdAt: not an RFC 3339 date-time"),
        ({**_import("d"), "metadata": ["a"]}, "data[3].metadata: not a mapping of strings"),
        ({**_import("d"), "metadata": {"year": 2024}}, "data[3].metadata.year: not a string (int)"),
        ({**_import("d"), "entity": "company"}, "data[3].entity: not an object with a string type"),
        ({**_import("d"), "count": "many"}, "data[3].count: not a number"),
        ({**_import("d"), "title": ["x"]}, "data[3].title: not a string (list)"),
        ("an import", "data[3]: not an object"),
    ],
)
def test_an_import_of_the_wrong_shape_is_named_by_its_place(item, problem):
    items = [_import("a"), {**_import("b"), "entity": None, "metadata": None, "count": None}, _import("c"), item]
    client, _, _ = client_with([_page(items)])
    with pytest.raises(ApiError) as caught:
        read_remote(client)
    assert str(caught.value) == f"{LIST}: HTTP 200: unusable answer: {problem} (request id req_9)"


@pytest.mark.parametrize("method", ["get", "update"])
def test_a_single_import_is_checked_too(method):
    client, _, _ = client_with([ok(_without("updatedAt", id="import_1"), **{"X-Request-Id": "r1"})])
    args = ("import_1", {"title": "x"}) if method == "update" else ("import_1",)
    with pytest.raises(ApiError, match=r"HTTP 200: unusable answer: updatedAt: missing \(request id r1\)$"):
        getattr(client, method)(*args)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"uploadUrl": None}, "uploadUrl: missing"),
        ({"uploadUrl": "ftp://uploads.example.com/x?sig=s3cr3t-signature"}, "uploadUrl is not an https URL"),
        ({"uploadUrl": "http://uploads.example.com/x?sig=s3cr3t-signature"}, "uploadUrl is not an https URL"),
        ({"uploadValidUntil": "soon"}, "uploadValidUntil: not an RFC 3339 date-time"),
        ({"id": None}, "id: missing"),
    ],
)
def test_a_create_answer_without_a_usable_upload_url_leaves_the_outcome_unknown(fields, problem):
    """The import may exist: OutcomeUnknown makes the caller find it by its stamp and clean it up."""
    client, seen, _ = client_with([created(**fields)])
    with pytest.raises(OutcomeUnknown) as caught:
        client.create({"format": "csv"})
    assert f"POST /websets/v0/imports: HTTP 201: unusable answer: {problem}" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and len(seen) == 1
    # http is fine to a loopback address (the emulator's upload host), as for the API itself.
    local = "http://127.0.0.1:8123/uploads/tok"
    client, _, _ = client_with([created(uploadUrl=local)])
    assert client.create({"format": "csv"})["uploadUrl"] == local


def test_timestamps_in_any_rfc_3339_spelling_are_read():
    """Any number of fraction digits (Python 3.10 reads only 3 or 6), either case of T and Z, any offset."""
    spellings = {
        "2027-01-01T00:00:00Z": 1798761600.0,
        "2027-01-01T00:00:00.5Z": 1798761600.5,
        "2027-01-01T00:00:00.123456789Z": 1798761600.123456,
        "2027-01-01T01:00:00+01:00": 1798761600.0,
        "2027-01-01t00:00:00z": 1798761600.0,
    }
    assert {text: parse_time(text) for text in spellings} == pytest.approx(spellings)
