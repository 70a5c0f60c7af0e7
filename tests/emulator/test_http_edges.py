"""Requests at the edges of HTTP: every answer is the API's JSON error with a request id, never a 500
for a malformed cursor, nor http.server's HTML page for a method or request line it does not handle."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.emulator.helpers import IMPORTS, api, create_body


def _assert_api_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code
    assert body["requestId"] == response.headers["X-Request-Id"]
    assert body["requestId"].startswith("req_")
    return body


@pytest.mark.parametrize(
    "raw_cursor",
    ["a.%C3%A9", "%C3%A9.%C3%A9", "eyJzIjogNX0.%E2%82%AC" + "0" * 23, "a.%FF", ".%C3%A9"],
)
def test_a_cursor_with_non_ascii_text_is_a_400_naming_the_cursor(emulator, raw_cursor):
    response = api(emulator).get(f"{IMPORTS}?cursor={raw_cursor}")
    body = _assert_api_error(response, 400, "invalid_cursor")
    assert body["error"]["detail"] == {"field": "cursor"}


def test_a_real_cursor_still_pages_after_a_malformed_one(emulator):
    client = api(emulator)
    ids = [client.post(IMPORTS, json=create_body(title=f"t{i}")).json()["id"] for i in range(3)]
    assert client.get(f"{IMPORTS}?cursor=a.%C3%A9").status_code == 400
    first = client.get(IMPORTS, params={"limit": 2}).json()
    rest = client.get(IMPORTS, params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [i["id"] for i in first["data"] + rest["data"]] == list(reversed(ids))


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "CONNECT", "PROPFIND", "PUT"])
@pytest.mark.parametrize(("path", "allow"), [(IMPORTS, "GET, POST"), (f"{IMPORTS}/import_x", "GET, PATCH, DELETE")])
def test_an_unsupported_method_on_an_api_path_is_a_json_405(emulator, method, path, allow):
    response = api(emulator).request(method, path)
    _assert_api_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow
    assert emulator.request_log[-1]["method"] == method and emulator.request_log[-1]["status"] == 405


def test_an_unsupported_method_still_needs_the_api_key(emulator):
    response = api(emulator, key=None).request("OPTIONS", IMPORTS)
    _assert_api_error(response, 401, "unauthorized")


def test_head_is_a_405_with_the_headers_of_its_json_error_and_no_body(emulator):
    response = api(emulator).head(IMPORTS)
    assert response.status_code == 405
    assert response.headers["X-Request-Id"].startswith("req_")
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Allow"] == "GET, POST"
    assert int(response.headers["Content-Length"]) > 0 and response.content == b""
    # The connection is still usable: nothing of the left-out body is waiting on it.
    client = api(emulator)
    assert client.head(IMPORTS).status_code == 405
    assert client.get(IMPORTS).status_code == 200


def test_an_unsupported_method_on_an_upload_url_is_a_json_405(emulator):
    created = api(emulator).post(IMPORTS, json=create_body()).json()
    for method in ("GET", "POST", "OPTIONS", "HEAD"):
        response = httpx.request(method, created["uploadUrl"])
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "PUT"
        assert response.headers["X-Request-Id"].startswith("req_")


def _raw(emulator, request: bytes) -> tuple[str, dict[str, str], bytes]:
    parts = urlsplit(emulator.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status_line, headers, body


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /websets/v0/imports HTTP/1.1 extra", 400),
        (b"GET /websets/v0/imports HTTP/9.9", 505),
        (b"GET /websets/v0/imports HTTP/x", 400),
    ],
)
def test_a_request_http_server_cannot_read_gets_the_api_error_body(emulator, request_line, status):
    status_line, headers, body = _raw(emulator, request_line + b"\r\nHost: x\r\n\r\n")
    assert status_line.split(" ")[1] == str(status)
    assert headers["content-type"] == "application/json"
    parsed = json.loads(body)
    assert parsed["requestId"] == headers["x-request-id"]
    assert parsed["error"]["message"]
