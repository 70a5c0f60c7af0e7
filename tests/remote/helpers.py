"""Values for client tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from reconciler.model import CsvFile
from reconciler.remote.client import ApiClient

KEY = "sk-test-0123456789abcdef0123"


def csv_file(path: Path, content: bytes) -> CsvFile:
    """Write `content` to `path` and describe it as a plan would have: its size and sha256."""
    path.write_bytes(content)
    return CsvFile(
        path=path.name,
        display=f"data/{path.name}",
        absolute=str(path),
        identifier=0,
        identifier_name="url",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        records=content.count(b"\n") - 1,
        columns=1,
    )


def client_with(responses, **options):
    """A client whose transport answers from `responses` in order; returns (client, seen requests, sleeps)."""
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = ApiClient(
        "https://api.example.com",
        KEY,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        rng=lambda: 1.0,
        **options,
    )
    return client, seen, sleeps
