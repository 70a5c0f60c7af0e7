"""The emulator's HTTP side: routing, authentication, error bodies, faults and the request log.

    client --HTTP--> wire.Handler --> Emulator.dispatch --> validation --> Store (Choices)
                                          |     |                           |
                              FaultInjector     Websets (read-only)   processing (on upload)

Bound to loopback only: it exists for trying the tool and testing pipelines offline.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.emulator.choices import Choices
from reconciler.emulator.faults import UPLOAD_ROUTE, FaultConfig, FaultInjector
from reconciler.emulator.store import BadCursor, NotFound, Store, UploadRejected
from reconciler.emulator.validation import (
    RequestInvalid,
    validate_create,
    validate_list_query,
    validate_update,
)
from reconciler.emulator.websets import MAX_LIMIT as WEBSETS_MAX_LIMIT
from reconciler.emulator.websets import WebsetNotFound, Websets, load_fixture
from reconciler.emulator.wire import (
    ALLOWED,
    API_PREFIX,
    UPLOAD_PREFIX,
    WEBSETS_PREFIX,
    EmulatorConfigError,
    Server,
    require_loopback,
    route_of,
    write,
)
from reconciler.emulator.wire import Handler as _Handler

DEFAULT_API_KEY = "emulator-key"


@dataclass
class _Response:
    status: int
    body: dict[str, Any] | None
    kind: str  # which schema the body follows: import, create, list, webset, websets, error, or upload (no body)
    headers: dict[str, str]
    text: str | None = None  # the body's JSON when it was written already (a listing)


def _error(status: int, err_type: str, code: str, message: str, field: str | None = None) -> _Response:
    error: dict[str, Any] = {"type": err_type, "code": code, "message": message}
    if field:
        error["detail"] = {"field": field}
    return _Response(status, {"error": error}, "error", {})


def _not_allowed(method: str, route: str) -> _Response:
    response = _error(405, "invalid_request_error", "method_not_allowed", f"{method} is not allowed")
    response.headers["Allow"] = ALLOWED[route]
    return response


class Emulator:
    """An in-process emulator of the Imports API. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | str | None = None,
        api_key: str = DEFAULT_API_KEY,
        faults: FaultConfig | None = None,
        processing_delay: float = 0.5,
        upload_valid_for: float = 3600.0,
        clock: Callable[[], float] = time.time,
        record_bodies: bool = False,
        request_log_path: Path | str | None = None,
        metadata_update: str = "replace",
        expired_upload: str = "pending",
        declared_count: str = "correct",
        websets: Path | str | Iterable[dict[str, Any]] | None = None,
    ) -> None:
        """`metadata_update`, `expired_upload` and `declared_count` answer the API's open questions (see
        `Choices`); the defaults are the README's. `websets` seeds the read-only websets: a fixture file,
        or (partial) Webset objects, the first the newest; more can be added through `self.websets`."""
        require_loopback(host)
        try:
            choices = Choices(metadata_update, expired_upload, declared_count)
        except ValueError as exc:
            raise EmulatorConfigError(str(exc)) from None
        seeded = load_fixture(websets) if isinstance(websets, (str, Path)) else list(websets or ())
        self._host, self._port = host, port
        self.api_key = api_key
        self.faults = FaultInjector(faults or FaultConfig())
        self.store = Store(
            Path(data_dir) if data_dir is not None else None,
            clock=clock,
            upload_valid_for=upload_valid_for,
            processing_delay=processing_delay,
            choices=choices,
        )
        self.websets = Websets(clock, self._current_import)
        try:
            self.websets.seed(seeded, str(websets) if isinstance(websets, (str, Path)) else None)
        except EmulatorConfigError:
            self.store.close()
            raise
        self.record_bodies = record_bodies
        # Tests may watch requests as they are served: ("before" | "after" the change, method, route).
        self.on_request: Callable[[str, str, str], None] | None = None
        self.request_log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._log_file = open(request_log_path, "a", encoding="utf-8") if request_log_path else None  # noqa: SIM115
        self._server: Server | None = None
        self._stopping = False
        self.base_url = ""  # set by bind(), e.g. http://127.0.0.1:54321
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def bind(self) -> Emulator:
        """Open the listening socket (port 0 picks a free one)."""
        server = Server((self._host, self._port), _Handler)
        server.emulator = self
        self._server = server
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}" if ":" not in str(host) else f"http://[{host}]:{port}"
        return self

    def start(self) -> Emulator:
        """Serve in a background daemon thread."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._server.serve_forever()

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=10)
            self._server.server_close()
            self._server = None
        self.store.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests -------------------------------------------------------------------------------

    def handle(self, handler: _Handler) -> None:
        request_id = "req_" + secrets.token_hex(10)
        method = handler.command
        url = urlsplit(handler.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        has_key = handler.headers.get("x-api-key") is not None
        route = route_of(path)
        entry: dict[str, Any] = {
            "method": method,
            # An upload token is a credential: the log keeps the route, never the token.
            "path": route if route == UPLOAD_ROUTE else path,
            "query": {k: v[-1] for k, v in query.items()},
            "api_key_present": has_key,
            "fault": None,
        }
        body, length_error = self._read_body(handler)
        decision = self.faults.decide(method, route)
        if decision.delay:
            time.sleep(decision.delay)
        entry["fault"] = decision.action
        if length_error is not None:
            response = length_error
            handler.close_connection = True
        elif decision.action in ("throttle", "rate_limit"):
            response = _error(429, "rate_limit_error", "rate_limited", "Too many requests")
            retry = self.faults.config.retry_after if decision.action == "throttle" else 1.0
            response.headers["Retry-After"] = f"{retry:g}"
        elif decision.action in ("upload_throttle", "upload_rate_limit"):
            response = _error(503, "upload_error", "SlowDown", "Please reduce your request rate.")
        elif decision.action in ("error500", "error503"):
            status = 500 if decision.action == "error500" else 503
            response = _error(status, "api_error", "internal_error", "The service had an internal error")
        else:
            if self.on_request is not None:
                self.on_request("before", method, route)
            try:
                response = self._dispatch(method, path, route, query, handler, body)
            except Exception:
                if self._stopping:  # the store is closing under a straggling request: just hang up
                    handler.close_connection = True
                    return
                response = _error(500, "api_error", "internal_error", "The service had an internal error")
            if self.on_request is not None:
                self.on_request("after", method, route)
            if decision.action == "lose":
                # The change is made; the answer never arrives.
                entry["status"] = None
                self._log(entry, None)
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return
        if response.kind == "error" and response.body is not None:
            response.body["requestId"] = request_id
        entry["status"] = response.status
        self._log(entry, response)
        write(handler, response.status, response.body, response.headers, request_id, response.text)

    def refuse(self, handler: _Handler, status: int, message: str) -> None:
        """Answer a request that http.server could not read, with the API's error body and a request id."""
        request_id = "req_" + secrets.token_hex(10)
        try:
            code = HTTPStatus(status).name.lower()
        except ValueError:
            code = "bad_request"
        response = _error(status, "invalid_request_error", code, message)
        assert response.body is not None
        response.body["requestId"] = request_id
        route = route_of(urlsplit(getattr(handler, "path", "") or "").path)
        entry = {"method": handler.command or "", "path": route if route == UPLOAD_ROUTE else "", "query": {}}
        self._log({**entry, "api_key_present": False, "fault": None, "status": status}, response)
        write(handler, status, response.body, response.headers, request_id)

    def _read_body(self, handler: _Handler) -> tuple[bytes, _Response | None]:
        length = handler.headers.get("Content-Length")
        if length is None:
            if handler.headers.get("Transfer-Encoding"):
                return b"", _error(411, "invalid_request_error", "length_required", "Content-Length is required")
            return b"", None
        try:
            expected = int(length)
        except ValueError:
            expected = -1
        if expected < 0:
            return b"", _error(400, "invalid_request_error", "bad_length", "Content-Length is not a valid length")
        body = handler.rfile.read(expected)
        if len(body) < expected:
            # The sender hung up early: a truncated body is never taken for a whole one.
            message = f"the body ended after {len(body)} of {expected} bytes"
            return b"", _error(400, "invalid_request_error", "incomplete_body", message)
        return body, None

    def _log(self, entry: dict[str, Any], response: _Response | None) -> None:
        if response is not None:
            entry["kind"] = response.kind
            if self.record_bodies:
                entry["body"] = response.body
        with self._log_lock:
            self.request_log.append(entry)
            if self._log_file is not None:
                self._log_file.write(json.dumps({k: v for k, v in entry.items() if k != "body"}) + "\n")
                self._log_file.flush()

    def _authorized(self, handler: _Handler) -> bool:
        given = handler.headers.get("x-api-key")
        return given is not None and hmac.compare_digest(given.encode(), self.api_key.encode())

    def _dispatch(
        self,
        method: str,
        path: str,
        route: str,
        query: dict[str, list[str]],
        handler: _Handler,
        body: bytes,
    ) -> _Response:
        if route == UPLOAD_ROUTE:
            if method != "PUT":
                return _not_allowed(method, route)
            return self._upload(path[len(UPLOAD_PREFIX) :], handler, body)
        if route not in (API_PREFIX, API_PREFIX + "/{id}", WEBSETS_PREFIX, WEBSETS_PREFIX + "/{id}"):
            return _error(404, "not_found_error", "not_found", f"no route for {path}")
        if not self._authorized(handler):
            return _error(401, "authentication_error", "unauthorized", "a valid x-api-key header is required")
        try:
            if route.startswith(WEBSETS_PREFIX):
                return self._websets(method, path, route, query)
            return self._api(method, path, route, query, body, handler)
        except RequestInvalid as exc:
            return _error(400, "invalid_request_error", "invalid_parameter", str(exc), exc.field or None)
        except NotFound as exc:
            return _error(404, "not_found_error", "not_found", f"import {exc} not found")
        except WebsetNotFound as exc:
            return _error(404, "not_found_error", "not_found", f"webset {exc} not found")
        except BadCursor:
            message = "cursor: unknown or malformed cursor"
            return _error(400, "invalid_request_error", "invalid_cursor", message, "cursor")

    def _api(
        self,
        method: str,
        path: str,
        route: str,
        query: dict[str, list[str]],
        body: bytes,
        handler: _Handler,
    ) -> _Response:
        store = self.store
        if route == API_PREFIX:
            if method == "GET":
                limit, cursor = validate_list_query(query)
                text = store.list_json(limit, cursor)
                # Only a log that keeps bodies needs the page as an object: read back from what is sent.
                return _Response(200, json.loads(text) if self.record_bodies else None, "list", {}, text)
            if method == "POST":
                view, token, valid_until = store.create(validate_create(_json(body)))
                host = handler.headers.get("Host") or "{}:{}".format(*handler.server.server_address[:2])
                view = {**view, "uploadUrl": f"http://{host}{UPLOAD_PREFIX}{token}", "uploadValidUntil": valid_until}
                return _Response(201, view, "create", {})
            return _not_allowed(method, route)
        import_id = path[len(API_PREFIX) + 1 :]
        if method == "GET":
            return _Response(200, store.get(import_id), "import", {})
        if method == "PATCH":
            return _Response(200, store.update(import_id, validate_update(_json(body))), "import", {})
        if method == "DELETE":
            return _Response(200, store.delete(import_id), "import", {})
        return _not_allowed(method, route)

    def _websets(self, method: str, path: str, route: str, query: dict[str, list[str]]) -> _Response:
        if method != "GET":
            return _not_allowed(method, route)
        if route == WEBSETS_PREFIX:
            limit, cursor = validate_list_query(query, WEBSETS_MAX_LIMIT)
            return _Response(200, self.websets.page(limit, cursor), "websets", {})
        return _Response(200, self.websets.get(path[len(WEBSETS_PREFIX) + 1 :]), "webset", {})

    def _current_import(self, import_id: str) -> dict[str, Any] | None:
        try:
            return self.store.get(import_id)
        except NotFound:
            return None

    def _upload(self, token: str, handler: _Handler, body: bytes) -> _Response:
        if handler.headers.get("x-api-key") is not None:
            return _error(
                400,
                "invalid_request_error",
                "api_key_on_upload",
                "the upload URL must not be sent an x-api-key header: the key must never reach the upload host",
            )
        try:
            self.store.upload(token, body)
        except UploadRejected as exc:
            return _error(exc.status, "upload_error", exc.code, str(exc))
        return _Response(200, None, "upload", {})


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise RequestInvalid("", "the request body is not valid JSON") from None
