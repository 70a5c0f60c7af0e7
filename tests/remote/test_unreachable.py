"""A wrong address fails at once, in one line naming the base URL; later in a run, the same errors are retried."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.remote.client import ApiClient, Unreachable
from tests.apply.helpers import rows, write_files
from tests.remote.test_client import KEY, client_with, ok


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_on_the_first_request_is_one_line_at_once():
    port = _closed_port()
    sleeps: list[float] = []
    client = ApiClient(f"http://127.0.0.1:{port}", KEY, sleep=sleeps.append)
    with pytest.raises(Unreachable) as caught:
        client.list_page()
    assert str(caught.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"
    assert sleeps == [] and client.requests == 1  # no retry


def test_a_name_that_does_not_resolve_is_reported_without_the_password():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    sleeps: list[float] = []
    client = ApiClient(
        "https://ci:s3cret-password@api.exa.invalid", KEY, transport=httpx.MockTransport(refuse), sleep=sleeps.append
    )
    with pytest.raises(Unreachable) as caught:
        client.get("import_1")
    message = str(caught.value)
    assert message == "cannot reach https://[redacted]@api.exa.invalid: name not resolved (DNS)"
    assert "s3cret" not in message and KEY not in message and sleeps == []


def test_once_an_answer_came_a_refused_connection_is_retried():
    client, seen, sleeps = client_with([ok(), httpx.ConnectError("[Errno 111] Connection refused"), ok()])
    client.get("import_1")
    assert client.get("import_1")["id"] == "import_1"
    assert len(seen) == 3 and sleeps == [0.5]


def test_plan_against_a_closed_port_fails_in_one_line_at_once(tmp_path, monkeypatch):
    port = _closed_port()
    manifest = write_files(tmp_path, {"a": rows(1)})
    monkeypatch.setenv("EXA_API_KEY", KEY)
    monkeypatch.setenv("EXA_BASE_URL", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["plan", "-f", str(manifest)])
    assert time.monotonic() - started < 3  # not six attempts with back-off
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: cannot reach http://127.0.0.1:{port}: connection refused"]
    assert not (tmp_path / "websets.lock").exists()


def test_a_query_in_the_base_url_is_redacted_and_the_reason_keeps_its_colon(tmp_path, monkeypatch):
    port = _closed_port()
    manifest = write_files(tmp_path, {"a": rows(1)})
    monkeypatch.setenv("EXA_API_KEY", KEY)
    monkeypatch.setenv("EXA_BASE_URL", f"http://127.0.0.1:{port}/?token=s3cret")
    result = CliRunner().invoke(cli, ["plan", "-f", str(manifest)])
    assert result.exit_code == 1
    assert "s3cret" not in result.output
    assert f"cannot reach http://127.0.0.1:{port}/?[redacted]: connection refused" in result.output
