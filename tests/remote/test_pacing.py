"""The request budget: never more than its rate in any second, off at 0, lowered by a 429 and recovering;
and the one-line notices of retries and long waits."""

from __future__ import annotations

import itertools

import httpx
import pytest

from reconciler.remote.client import DEFAULT_MAX_RPS, ApiClient
from reconciler.remote.pacing import QUIET, WINDOW, Budget
from tests.remote.helpers import csv_file
from tests.remote.test_client import KEY, client_with, err, ok


class Clock:
    """Monotonic time that moves only when the budget sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _send(budget: Budget, clock: Clock, n: int, took: float = 0.0) -> list[float]:
    """Take n tokens one after another, each request answered `took` seconds after it went."""
    sent = []
    for _ in range(n):
        ticket, _ = budget.take()
        sent.append(clock.now)
        clock.now += took
        budget.settle(ticket)
    return sent


def _most_in_a_window(times: list[float], window: float = WINDOW) -> int:
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


@pytest.mark.parametrize("took", [0.0, 0.05, 0.1])
def test_no_second_ever_holds_more_requests_than_the_rate(took):
    clock = Clock()
    budget = Budget(8, sleep=clock.sleep, clock=clock)
    sent = _send(budget, clock, 80, took)
    assert _most_in_a_window(sent) == 8
    # The first eight go at once; after that the budget, not the requests, sets the pace: 8 a second.
    assert sent[7] - sent[0] == pytest.approx(7 * took)
    assert 9.0 <= sent[-1] - sent[0] <= 9 * (1 + took) + 1


def test_a_rate_below_one_spaces_requests_out():
    clock = Clock()
    budget = Budget(0.5, sleep=clock.sleep, clock=clock)
    sent = _send(budget, clock, 4)
    assert [b - a for a, b in itertools.pairwise(sent)] == [pytest.approx(2.0)] * 3


def test_a_rate_of_zero_turns_pacing_off():
    clock = Clock()
    budget = Budget(0, sleep=clock.sleep, clock=clock)
    assert _send(budget, clock, 500) == [1000.0] * 500
    assert clock.sleeps == [] and budget.take() == (None, 0.0)


def test_the_rate_can_change_while_the_run_goes_on():
    clock = Clock()
    budget = Budget(8, sleep=clock.sleep, clock=clock)
    _send(budget, clock, 8)
    clock.now += 5
    budget.rate = 2
    assert budget.ceiling == 2
    assert _most_in_a_window(_send(budget, clock, 20)) == 2
    budget.rate = 0
    assert budget.take() == (None, 0.0)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            budget.rate = bad


def test_a_429_halves_the_rate_down_to_one_and_quiet_brings_it_back():
    clock = Clock()
    budget = Budget(8, sleep=clock.sleep, clock=clock)
    early, _ = budget.take()
    late, _ = budget.take()
    assert budget.lower(late) == 4
    # A request that went before the rate was lowered says nothing about the lowered rate.
    assert budget.lower(early) is None and budget.rate == 4
    for expected in (2, 1):
        ticket, _ = budget.take()
        assert budget.lower(ticket) == expected
    ticket, _ = budget.take()
    assert budget.lower(ticket) is None and budget.rate == 1  # never below one a second
    clock.now += QUIET - 0.1
    budget.take()
    assert budget.rate == 1
    rates = []
    for _ in range(10):
        clock.now += QUIET + 0.01
        budget.take()
        rates.append(budget.rate)
    assert rates == [2, 3, 4, 5, 6, 7, 8, 8, 8, 8]  # one more a second per quiet period, up to the ceiling
    assert Budget(0).lower(None) is None


def test_the_client_spends_the_budget_on_api_requests_but_not_on_uploads(tmp_path):
    csv = csv_file(tmp_path / "f.csv", b"url\nhttps://a.example\n")
    client, seen, _ = client_with([ok(), ok(), httpx.Response(200), httpx.Response(200)], max_rps=2)
    clock = Clock()
    client.budget = Budget(2, sleep=clock.sleep, clock=clock)
    client.get("import_1")
    client.get("import_1")
    client.upload("https://uploads.example.com/a?X-Amz-Signature=feedfacefeedface", csv, "import_1")
    client.upload("https://uploads.example.com/b?X-Amz-Signature=feedfacefeedface", csv, "import_1")
    assert clock.sleeps == [] and len(seen) == 4
    client.budget.settle(None)
    assert ApiClient("https://api.example.com", KEY).budget.rate == DEFAULT_MAX_RPS == 8
    assert ApiClient.from_env({"EXA_API_KEY": KEY}, max_rps=0).budget.rate == 0


def test_a_429_lowers_the_clients_rate_and_says_so_in_one_line():
    client, seen, _ = client_with([err(429, **{"Retry-After": "2"}), ok()])
    notices: list[str] = []
    client.notice = notices.append
    client.get("import_1")
    assert notices == [
        "429 from GET /websets/v0/imports/import_1; pausing 2.0 s, then retry 1/5 (rate limit lowered to 4/s)"
    ]
    assert client.budget.rate == 4 and client.budget.ceiling == 8 and len(seen) == 2


def test_every_retry_is_told_without_the_key_or_an_upload_url(tmp_path):
    client, _, _ = client_with([ok(), err(503), httpx.ConnectError("[Errno 111] Connection refused"), ok()])
    notices: list[str] = []
    client.notice = notices.append
    client.get("import_1")  # an answer came: from here on a refused connection is retried
    client.get("import_1")
    assert notices == [
        "503 from GET /websets/v0/imports/import_1; retry 1/5 in 0.5 s",
        "ConnectError from GET /websets/v0/imports/import_1; retry 2/5 in 1.0 s",
    ]

    url = "https://uploads.example.com/bucket/obj?X-Amz-Signature=deadbeefdeadbeef"
    csv = csv_file(tmp_path / "f.csv", b"url\nhttps://a.example\n")
    client, _, _ = client_with([httpx.Response(503, text=f"slow down {url} {KEY}"), httpx.Response(200)])
    client.notice = notices.append
    client.upload(url, csv, "import_1")
    assert notices[-1] == "503 from upload of the CSV for import_1; retry 1/5 in 0.5 s"
    assert not any(KEY in n or "uploads.example.com" in n or "deadbeef" in n for n in notices)


def test_a_long_wait_for_the_budget_is_told_once_in_a_while():
    client, _, _ = client_with([ok()] * 6)
    clock = Clock()
    client.budget = Budget(0.5, sleep=clock.sleep, clock=clock)
    notices: list[str] = []
    client.notice = notices.append
    for _ in range(6):
        client.get("import_1")
    assert len(clock.sleeps) == 5 and min(clock.sleeps) > 1.0  # a wait of two seconds before each request
    assert notices == ["waiting 2.0 s for the request budget (0.5/s)"]  # not one line per request
