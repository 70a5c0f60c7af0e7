"""`doctor`'s errors are one line with exit 1 (130 on Ctrl-C), the throwaway import never outlives the run
unawares, and neither the key nor an upload URL reaches the output."""

from __future__ import annotations

import socket
import uuid

import pytest

from reconciler.doctor import THROWAWAY_TITLE
from reconciler.doctor.rows import UPLOAD
from reconciler.emulator.faults import FaultConfig, Rate
from reconciler.emulator.store import UploadRejected
from reconciler.emulator.validation import RequestInvalid
from reconciler.redact import MARK
from reconciler.remote.client import ApiClient
from tests.conftest import API_KEY
from tests.doctor.helpers import invoke, rows_of, stored_titles


def _point_at(emu, monkeypatch, key: str = API_KEY):
    monkeypatch.setenv("EXA_API_KEY", key)
    monkeypatch.setenv("EXA_BASE_URL", emu.base_url)
    return emu


def _refuse(message: str):
    def refuse(*args, **kwargs):
        raise RequestInvalid("", message)

    return refuse


def _methods(emu) -> list[str]:
    return [entry["method"] for entry in emu.request_log]


def assert_one_error_line(result, start: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(start), result.stderr
    assert "Traceback" not in result.stderr


def test_no_key_is_one_line(monkeypatch):
    monkeypatch.delenv("EXA_API_KEY", raising=False)
    assert_one_error_line(invoke(), "Error: EXA_API_KEY is not set")


def test_an_unreachable_base_url_is_one_line(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", f"http://127.0.0.1:{port}")
    assert_one_error_line(invoke(), f"Error: cannot reach http://127.0.0.1:{port}: connection refused")


def test_a_refused_key_is_one_line_and_nothing_is_made(emulator, monkeypatch):
    _point_at(emulator, monkeypatch, key="sk-not-the-emulators-key")
    assert_one_error_line(invoke(), "Error: GET /websets/v0/imports: HTTP 401: a valid x-api-key header is required")
    assert _methods(emulator) == ["GET"]


def test_a_refused_create_is_one_line(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)
    monkeypatch.setattr(emulator.store, "create", _refuse("creates are refused today"))
    assert_one_error_line(invoke(), "Error: POST /websets/v0/imports: HTTP 400: creates are refused today")
    assert stored_titles(emulator) == []


def test_a_create_whose_answer_is_lost_is_found_by_its_nonce_and_deleted(make_emulator, clock, monkeypatch):
    emu = _point_at(make_emulator(clock=clock, faults=FaultConfig(lose=Rate(1.0, frozenset({"POST"})))), monkeypatch)
    result = invoke()
    assert_one_error_line(result, "Error: POST /websets/v0/imports: ")
    assert _methods(emu) == ["GET", "GET", "POST", "GET", "DELETE"]
    assert stored_titles(emu) == []


def test_a_check_that_ends_in_an_error_still_deletes_the_throwaway(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)
    monkeypatch.setattr(emulator.store, "get", _refuse("reads are refused today"))
    result = invoke()
    assert_one_error_line(result, "Error: GET /websets/v0/imports/import_")
    assert "HTTP 400: reads are refused today" in result.stderr
    assert _methods(emulator)[-1] == "DELETE"
    assert stored_titles(emulator) == []


def test_ctrl_c_during_a_check_still_deletes_the_throwaway(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)

    def interrupted(self, import_id, body):
        raise KeyboardInterrupt

    monkeypatch.setattr(ApiClient, "update", interrupted)
    result = invoke()
    assert result.exit_code == 130
    assert result.stderr.strip() == "Error: interrupted"
    assert _methods(emulator)[-1] == "DELETE"
    assert stored_titles(emulator) == []


def test_ctrl_c_during_the_delete_names_the_throwaway_left_behind(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)

    def interrupted(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(ApiClient, "update", interrupted)
    monkeypatch.setattr(ApiClient, "delete", interrupted)
    result = invoke()
    assert result.exit_code == 130
    [left] = emulator.store.list(200, None)["data"]
    assert left["title"] == THROWAWAY_TITLE
    assert result.stderr.splitlines() == [
        f"Error: the throwaway import {left['id']} was not deleted (interrupted); delete it: it is titled "
        f"'{THROWAWAY_TITLE}'",
        "Error: interrupted",
    ]


def test_a_failed_delete_is_named_on_the_last_line_and_fails_the_run(emulator, monkeypatch):
    _point_at(emulator, monkeypatch)
    monkeypatch.setattr(emulator.store, "delete", _refuse("deletes are refused today"))
    result = invoke()
    assert result.exit_code == 1
    [left] = emulator.store.list(200, None)["data"]
    assert left["title"] == THROWAWAY_TITLE
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"Error: the throwaway import {left['id']} was not deleted (DELETE /websets/v0/imports/")
    assert "HTTP 400: deletes are refused today" in last
    assert last.endswith(f"; delete it: it is titled '{THROWAWAY_TITLE}'")
    assert "Every assumption the tool relies on holds (8 of 8)." in result.stderr


@pytest.mark.parametrize("args", [[], ["--json"]], ids=["table", "json"])
def test_neither_the_key_nor_an_upload_url_is_shown_even_when_the_service_echoes_them(
    make_emulator, clock, monkeypatch, args
):
    key = f"sk-{uuid.uuid4().hex}"
    emu = _point_at(make_emulator(clock=clock, api_key=key), monkeypatch, key=key)
    tokens: list[str] = []
    create = emu.store.create

    def keep_token(params):
        view, token, valid_until = create(params)
        tokens.append(token)
        return view, token, valid_until

    def echo(token, content):
        url = f"{emu.base_url}/uploads/{token}"
        raise UploadRejected(400, "IncompleteBody", f"PUT {url} (token {token}, x-api-key {key}) is refused")

    monkeypatch.setattr(emu.store, "create", keep_token)
    monkeypatch.setattr(emu.store, "upload", echo)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    [token] = tokens
    for secret in (key, token, f"{emu.base_url}/uploads/{token}"):
        assert secret not in result.stdout and secret not in result.stderr
    if args:
        assert (
            rows_of(result)[UPLOAD]["observed"]
            == f"refused: HTTP 400: PUT {MARK} (token {MARK}, x-api-key {MARK}) is refused"
        )
    else:
        assert f"refused: HTTP 400: PUT {MARK} (token {MARK}, x-api-key {MARK}) is refused" in result.stdout
