"""Stopping a run (the first Ctrl-C) while workers wait for the request budget: the wait ends at once and
no create that was not sent goes out."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.remote.client import ApiClient, Stopped
from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY

BODY = {
    "format": "csv",
    "size": 10,
    "count": 1,
    "title": "t",
    "entity": {"type": "company"},
    "metadata": {},
    "csv": {"identifier": 0},
}


def _posts(emulator) -> int:
    return sum(1 for e in emulator.request_log if e.get("method") == "POST")


def test_a_create_waiting_for_the_budget_is_not_sent_once_the_run_stops(emulator):
    waiting = threading.Event()
    outcome: list[BaseException | None] = []
    with ApiClient(emulator.base_url, API_KEY, max_rps=0.1) as client:  # one request every 10 s
        client.notice = lambda message: waiting.set()  # told before a long wait starts
        client.list_page()  # spends the only token of the next 10 s

        def create() -> None:
            try:
                client.create(BODY)
                outcome.append(None)
            except Stopped as exc:
                outcome.append(exc)

        worker = threading.Thread(target=create)
        worker.start()
        assert waiting.wait(5), "the create never waited for the budget"
        client.stop.set()
        worker.join(5)  # far less than the 10 s the budget would have made it wait
        assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Stopped)
    assert "not sent: the run is stopping" in str(outcome[0])
    assert _posts(emulator) == 0


@pytest.mark.parametrize("value", ["0.05", "0.0999"])
def test_a_rate_below_a_tenth_is_refused_on_the_command_line(value, tmp_path):
    manifest = write_files(tmp_path, {"a": rows(1)})
    result = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--max-rps", value])
    assert result.exit_code == 1
    assert "below 0.1 requests a second; give 0.1 or more, or 0 for no pacing" in result.output


def test_a_rate_below_a_tenth_is_refused_in_the_manifest(tmp_path):
    manifest = write_files(tmp_path, {"a": rows(1)})
    manifest.write_text(manifest.read_text().replace("imports:", "api: {max_rps: 0.01}\nimports:", 1))
    result = CliRunner().invoke(cli, ["validate", "-f", str(manifest)])
    assert result.exit_code == 1
    assert f"{manifest}:5:" in result.output and "api.max_rps: below 0.1 requests a second" in result.output
