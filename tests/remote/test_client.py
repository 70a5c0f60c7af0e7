"""The HTTP client: what is retried, how long it waits, and what its errors say (never the key)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.errors import ApiError, ConfigError, RemoteStateError, TransportError
from reconciler.remote.client import ApiClient, OutcomeUnknown, RetryPolicy, check_base_url, error_message
from reconciler.remote.state import read_remote
from tests.remote.helpers import KEY, client_with, csv_file


def _import(i: str) -> dict:
    return {
        "id": i,
        "object": "import",
        "status": "completed",
        "format": "csv",
        "entity": {"type": "company"},
        "title": i,
        "count": 1,
        "metadata": {},
        "failedReason": None,
        "failedAt": None,
        "failedMessage": None,
        "createdAt": "2027-01-01T00:00:00Z",
        "updatedAt": "2027-01-01T00:00:00Z",
    }


def ok(body=None, status=200, **headers):
    return httpx.Response(status, json=body if body is not None else _import("import_1"), headers=headers)


def created(**fields):
    """A create answer: an Import plus its upload URL and expiry."""
    answer = {
        **_import("import_1"),
        "status": "pending",
        "uploadUrl": "https://uploads.example.com/bucket/obj?X-Amz-Signature=feedfacefeedface",
        "uploadValidUntil": "2027-01-01T01:00:00Z",
    }
    return ok({**answer, **fields}, status=201)


def err(status, message="boom", request_id="req_1", **headers):
    return httpx.Response(
        status,
        json={"error": {"type": "x", "code": "y", "message": message}, "requestId": request_id},
        headers={"X-Request-Id": request_id, **headers},
    )


@pytest.mark.parametrize("method", ["get", "update", "delete"])
def test_idempotent_calls_retry_5xx_and_transport_errors(method):
    client, seen, sleeps = client_with([err(503), httpx.ConnectError("refused"), err(500), ok()])
    args = ("import_1", {"title": "x"}) if method == "update" else ("import_1",)
    assert getattr(client, method)(*args)["id"] == "import_1"
    assert len(seen) == 4 and client.requests == 4
    assert sleeps == [0.5, 1.0, 2.0]  # capped exponential backoff (jitter pinned to its maximum)


def test_retry_after_is_honoured_and_pauses_everyone():
    client, seen, sleeps = client_with([err(429, **{"Retry-After": "7"}), ok()])
    client.get("import_1")
    assert 6.9 < sum(sleeps) <= 7.0 and len(seen) == 2


def test_backoff_is_capped_and_attempts_bounded():
    client, seen, sleeps = client_with([err(503)] * 4, retry=RetryPolicy(attempts=4, base=10, cap=15))
    with pytest.raises(ApiError) as caught:
        client.get("import_1")
    assert len(seen) == 4 and sleeps == [10, 15, 15]
    assert str(caught.value) == "GET /websets/v0/imports/import_1: HTTP 503: boom (request id req_1)"


def test_post_is_never_blindly_repeated():
    for answer in (err(500), err(503), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed")):
        client, seen, _ = client_with([answer, ok(status=201)])
        with pytest.raises(OutcomeUnknown):
            client.create({"format": "csv"})
        assert len(seen) == 1


def test_post_retries_a_429_because_nothing_was_done():
    client, seen, _ = client_with([err(429, **{"Retry-After": "0"}), created()])
    assert client.create({"format": "csv"})["id"] == "import_1"
    assert len(seen) == 2


def test_client_errors_are_not_retried():
    client, seen, _ = client_with([err(400, "size: must be at least 1")])
    with pytest.raises(ApiError, match="HTTP 400: size: must be at least 1") as caught:
        client.create({})
    assert caught.value.request_id == "req_1" and len(seen) == 1


def test_delete_whose_first_answer_was_lost_is_done():
    client, seen, _ = client_with([httpx.RemoteProtocolError("closed"), err(404)])
    assert client.delete("import_1") is None and len(seen) == 2
    client, _, _ = client_with([err(404)])
    with pytest.raises(ApiError, match="404"):
        client.delete("import_1")


def test_transport_errors_name_no_url_or_key():
    client, _, _ = client_with([httpx.ConnectError(f"https://user:{KEY}@host")] * 6)
    with pytest.raises(TransportError) as caught:
        client.get("import_1")
    assert str(caught.value) == "GET /websets/v0/imports/import_1: no response: ConnectError"


def test_upload_never_sends_the_key_and_hides_the_url(tmp_path):
    content = b"url\nhttps://a.example\n"
    csv = csv_file(tmp_path / "f.csv", content)
    secret_url = "https://uploads.example.com/bucket/obj?X-Amz-Signature=deadbeefdeadbeef"
    client, seen, _ = client_with([httpx.Response(200), httpx.Response(403, text="<Error>AccessDenied</Error>")])
    client.upload(secret_url, csv, "import_1")
    request = seen[0]
    assert "x-api-key" not in request.headers
    assert request.headers["Content-Type"] == "text/csv"
    assert request.headers["Content-Length"] == str(len(content))
    assert request.read() == content
    with pytest.raises(ApiError) as caught:
        client.upload(secret_url, csv, "import_1")
    assert "deadbeef" not in str(caught.value) and "uploads.example.com" not in str(caught.value)
    assert str(caught.value) == "upload of the CSV for import_1: HTTP 403: <Error>AccessDenied</Error>"


def test_api_requests_carry_the_key_and_no_redirects():
    client, seen, _ = client_with([httpx.Response(302, headers={"Location": "https://evil.example.com/"})])
    with pytest.raises(ApiError, match="HTTP 302"):
        client.get("import_1")
    assert seen[0].headers["x-api-key"] == KEY and len(seen) == 1


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500, json={"error": {"message": "a\nb"}}), "a b"),
        (httpx.Response(500, json={"statusCode": 500, "message": "flat"}), "flat"),
        (httpx.Response(500, json={"error": "string error"}), "string error"),
        (httpx.Response(502, text="<html>Bad gateway</html>"), "<html>Bad gateway</html>"),
        (httpx.Response(504), "Gateway Timeout"),
    ],
)
def test_error_messages_from_any_body(response, message):
    assert error_message(response) == message


def test_base_url_rules():
    assert check_base_url("https://api.exa.ai/") == "https://api.exa.ai"
    assert check_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert check_base_url("http://localhost:1") == "http://localhost:1"
    assert check_base_url("http://[::1]:1") == "http://[::1]:1"
    with pytest.raises(ConfigError):
        check_base_url("http://192.168.1.5")


def test_from_env_requires_key():
    with pytest.raises(ConfigError, match="EXA_API_KEY is not set"):
        ApiClient.from_env({})
    client = ApiClient.from_env({"EXA_API_KEY": "k"})
    assert client.base_url == "https://api.exa.ai"


def _page(ids, cursor=None):
    return ok({"data": [_import(i) for i in ids], "hasMore": cursor is not None, "nextCursor": cursor})


def test_listing_follows_cursors_with_limit_200():
    client, seen, _ = client_with([_page(["a", "b"], "c1"), _page(["c"], "c2"), _page([])])
    assert [r.id for r in read_remote(client)] == ["a", "b", "c"]
    assert [dict(r.url.params) for r in seen] == [
        {"limit": "200"},
        {"limit": "200", "cursor": "c1"},
        {"limit": "200", "cursor": "c2"},
    ]


def test_inconsistent_listing_is_relisted_then_an_error():
    # First listing repeats an id; the second is clean.
    client, seen, _ = client_with([_page(["a"], "c1"), _page(["a"]), _page(["a"], "c1"), _page(["b"])])
    assert [r.id for r in read_remote(client)] == ["a", "b"]
    # A cursor that comes back forever: three attempts, then a clear error.
    client, seen, _ = client_with([_page(["a"], "c1"), _page(["b"], "c1")] * 3)
    with pytest.raises(RemoteStateError, match=r"inconsistent \(a cursor repeated\) after 3 attempts"):
        read_remote(client)
    assert len(seen) == 6


def test_one_429_pauses_every_worker():
    """The pause is shared: after one request meets a 429 with Retry-After, the others wait too."""
    import threading

    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    from reconciler.remote.client import Pause

    pause = Pause(sleep, clock=lambda: clock[0])
    client, seen, _ = client_with([err(429, **{"Retry-After": "5"}), ok(), ok()], pause=pause)
    client.get("import_1")  # meets the 429, pauses the run for 5 s, then succeeds
    assert slept == [5.0]
    other = threading.Thread(target=client.get, args=("import_2",))
    clock[0] -= 4.0  # another worker arrives one second into the pause
    other.start()
    other.join()
    assert slept[-1] == pytest.approx(4.0)
    assert len(seen) == 3
