"""The upload host never takes a truncated body for a whole one."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.emulator.helpers import IMPORTS, api, create_body

CONTENT = b"url\nhttps://a.example\n"


def _raw_put(url: str, head: dict[str, str], body: bytes) -> bytes:
    """Send a PUT whose body may be shorter than its Content-Length, then hang up; return the answer."""
    parts = urlsplit(url)
    lines = [f"PUT {parts.path} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in head.items())]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("declared", [len(CONTENT) + 5, len(CONTENT) + 1])
def test_a_body_that_ends_before_its_content_length_is_refused(emulator, declared):
    created = api(emulator).post(IMPORTS, json=create_body(CONTENT)).json()
    # Exactly the import's declared size arrives, but the request promised more: the sender gave up.
    answer = _raw_put(created["uploadUrl"], {"Content-Length": str(declared)}, CONTENT)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"incomplete_body" in answer
    assert emulator.store.uploaded_file(created["id"]) is None
    assert api(emulator).get(f"{IMPORTS}/{created['id']}").json()["status"] == "pending"


def test_a_negative_content_length_is_refused(emulator):
    created = api(emulator).post(IMPORTS, json=create_body(CONTENT)).json()
    answer = _raw_put(created["uploadUrl"], {"Content-Length": "-1"}, CONTENT)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert emulator.store.uploaded_file(created["id"]) is None
