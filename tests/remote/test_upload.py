"""The upload PUT: retried like the idempotent calls while its URL is valid, and exactly the planned bytes."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import httpx
import pytest

from reconciler.errors import ApiError, CsvChanged
from reconciler.remote.client import ApiClient, OutcomeUnknown, Pause, RetryPolicy
from tests.remote.helpers import csv_file
from tests.remote.test_client import KEY

URL = "https://uploads.example.com/bucket/obj?X-Amz-Signature=0123456789abcdef"
CONTENT = b"url\n" + b"".join(b"https://%d.example\n" % i for i in range(10))
T0 = 1_800_000_000.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


class _Host(httpx.BaseTransport):
    """An upload host that reads each body as it streams in and answers from a script."""

    def __init__(self, answers) -> None:
        self.answers = list(answers)
        self.bodies: list[bytes] = []
        self.headers: list[httpx.Headers] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        received = bytearray()
        self.headers.append(request.headers)
        try:
            for chunk in request.stream:
                received += chunk
        finally:
            self.bodies.append(bytes(received))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _client(host: _Host, *, attempts: int = 8):
    """A client on a fake clock: sleeping (directly or through the shared pause) moves the clock."""
    clock = [T0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    client = ApiClient(
        "https://api.example.com",
        KEY,
        transport=host,
        sleep=sleep,
        rng=lambda: 1.0,
        retry=RetryPolicy(attempts=attempts),
        pause=Pause(sleep, clock=lambda: clock[0]),
        now=lambda: clock[0],
    )
    return client, sleeps


def test_a_put_meeting_429_5xx_and_lost_connections_is_retried_until_it_lands(tmp_path):
    csv = csv_file(tmp_path / "f.csv", CONTENT)
    answers = [
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.ConnectError("refused"),
        httpx.Response(200),
    ]
    host = _Host(answers)
    client, sleeps = _client(host)
    client.upload(URL, csv, "import_1", valid_until=_iso(T0 + 3600))
    assert host.bodies == [CONTENT] * 7  # every attempt sent the whole file again
    assert all("x-api-key" not in h for h in host.headers)
    # The 429's Retry-After is served by the shared pause; the rest back off exponentially.
    assert sleeps == [3.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert client.requests == 7


def test_a_429_pauses_every_worker(tmp_path):
    csv = csv_file(tmp_path / "f.csv", CONTENT)
    client, _ = _client(_Host([httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(200)]))
    pushed: list[float] = []
    push = client.pause.push
    client.pause.push = lambda seconds: (pushed.append(seconds), push(seconds))  # type: ignore[method-assign]
    client.upload(URL, csv, "import_1")
    assert pushed == [30.0]


def test_no_retry_past_the_urls_expiry(tmp_path):
    csv = csv_file(tmp_path / "f.csv", CONTENT)
    host = _Host([httpx.Response(503), httpx.Response(503), httpx.Response(200)])
    client, sleeps = _client(host)
    # The first back-off (0.5 s) fits in the window; the second (1 s) would end past it.
    with pytest.raises(ApiError) as caught:
        client.upload(URL, csv, "import_1", valid_until=_iso(T0 + 1.2))
    assert caught.value.status == 503 and len(host.bodies) == 2 and sleeps == [0.5]

    host = _Host([httpx.Response(429, headers={"Retry-After": "600"}), httpx.Response(200)])
    client, sleeps = _client(host)
    with pytest.raises(ApiError) as caught:
        client.upload(URL, csv, "import_1", valid_until=_iso(T0 + 60))
    assert caught.value.status == 429 and len(host.bodies) == 1 and sleeps == []


def test_a_refusal_is_not_retried_and_a_lost_answer_is_reported_as_unknown(tmp_path):
    csv = csv_file(tmp_path / "f.csv", CONTENT)
    host = _Host([httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")])
    client, _ = _client(host)
    with pytest.raises(ApiError) as caught:
        client.upload(URL, csv, "import_1")
    assert caught.value.status == 403 and len(host.bodies) == 1

    host = _Host([httpx.RemoteProtocolError("closed")] * 3)
    client, _ = _client(host, attempts=3)
    with pytest.raises(OutcomeUnknown):
        client.upload(URL, csv, "import_1")
    assert len(host.bodies) == 3


BIG = b"url\n" + b"https://example.com/" + b"x" * (2_500_000) + b"\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b[:-5] + b"yyyy\n", r"\(sha256 [0-9a-f]{12}… -> [0-9a-f]{12}…\)"),
        (lambda b: b[:-2] + b"\n", r"\(2,500,025 -> 2,500,024 bytes\)"),
        (lambda b: b + b"https://more.example\n", r"\(2,500,025 -> 2,500,046 bytes\)"),
    ],
    ids=["same-size", "shorter", "longer"],
)
def test_a_csv_changed_since_the_plan_is_never_sent_whole(tmp_path, change, message):
    csv = csv_file(tmp_path / "f.csv", BIG)
    (tmp_path / "f.csv").write_bytes(change(BIG))
    host = _Host([httpx.Response(200)] * 3)
    client, _ = _client(host)
    with pytest.raises(CsvChanged, match=r"^data/f\.csv: changed since it was planned " + message + "; plan again$"):
        client.upload(URL, csv, "import_1")
    (sent,) = host.bodies  # not retried
    assert len(sent) < csv.size and BIG.startswith(sent) and len(sent) >= 1 << 20  # streamed, last chunk held


def test_only_a_regular_file_is_read(tmp_path):
    csv = csv_file(tmp_path / "f.csv", CONTENT)
    os.unlink(csv.absolute)
    os.mkfifo(csv.absolute)  # opening it for reading would block without O_NONBLOCK
    host = _Host([httpx.Response(200)])
    client, _ = _client(host)
    with pytest.raises(ApiError, match=r"^upload of the CSV for import_1: HTTP 0: cannot read data/f\.csv: not a"):
        client.upload(URL, csv, "import_1")
    assert host.bodies == []
