"""An apply paced by its request budget meets no 429 from a rate limit as high as the budget, and one
under a lower limit slows down after its first 429s instead of colliding again and again."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from reconciler.apply.run import ApplyOptions, apply
from reconciler.emulator.process import emulator_process
from reconciler.lockfile import parse_lock
from reconciler.remote.client import ApiClient, RetryPolicy
from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY


def _apply_under(tmp_path: Path, *, limit: float, budget: float, creates: int) -> dict:
    """Apply `creates` new imports with the given budget against an emulator with the given rate limit."""
    files = {f"k{i:02d}": rows(1, f"k{i}") for i in range(creates)}
    manifest = write_files(tmp_path, files)
    log = tmp_path / "requests.jsonl"
    notices: list[str] = []
    # In a process of its own, as the API is another machine: it counts requests as they arrive.
    options = (
        "--api-key",
        API_KEY,
        "--rps-limit",
        f"{limit:g}",
        "--processing-delay",
        "0.2",
        "--request-log",
        str(log),
    )
    with (
        emulator_process(*options) as served,
        ApiClient(served.base_url, API_KEY, max_rps=budget, retry=RetryPolicy(attempts=4)) as client,
    ):
        client.notice = notices.append
        started = time.monotonic()
        _, result = apply(
            str(manifest),
            client,
            ApplyOptions(),
            progress=lambda key, message: None,
            show_plan=lambda plan: None,
            confirm=lambda plan: True,
        )
        elapsed = time.monotonic() - started
    assert not result.failures and len(result.done["create"]) == creates
    assert set(parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock").imports) == set(files)
    api = [e for e in map(json.loads, log.read_text().splitlines()) if e["method"] != "PUT"]
    return {"api": api, "notices": notices, "elapsed": elapsed, "rate": client.budget.rate}


def test_an_apply_under_a_limit_equal_to_its_budget_meets_no_429(tmp_path):
    run = _apply_under(tmp_path, limit=20, budget=20, creates=60)
    assert Counter(e["status"] for e in run["api"])[429] == 0 and run["notices"] == []
    assert run["elapsed"] >= (60 - 20) / 20  # paced, not all at once
    # Waiting for processing read the listing: far fewer polls than creates.
    polls = sum(1 for e in run["api"] if e["method"] == "GET") - 1  # the plan's listing is one page
    assert polls <= 60 // 4


def test_under_a_lower_limit_the_first_429s_lower_the_rate_and_the_run_completes(tmp_path):
    run = _apply_under(tmp_path, limit=10, budget=20, creates=40)
    throttled = [i for i, e in enumerate(run["api"]) if e["status"] == 429]
    # One second's excess at most: after the first 429 the budget is halved to the limit.
    assert 0 < len(throttled) <= 10 and run["rate"] == 10
    assert "(rate limit lowered to 10/s)" in run["notices"][0]
