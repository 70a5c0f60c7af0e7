"""The emulator's HTTP side: routing, authentication, error bodies, faults and the request log.

    client --HTTP--> _Handler --> Emulator.dispatch --> validation --> Store
                                      |                                 |
                                  FaultInjector                  processing (on upload)

Bound to loopback only: it exists for trying the tool and testing pipelines offline.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.emulator.faults import FaultConfig, FaultInjector
from reconciler.emulator.store import BadCursor, NotFound, Store, UploadRejected
from reconciler.emulator.validation import (
    RequestInvalid,
    validate_create,
    validate_list_query,
    validate_update,
)

API_PREFIX = "/websets/v0/imports"
UPLOAD_PREFIX = "/uploads/"
DEFAULT_API_KEY = "emulator-key"


class EmulatorConfigError(ValueError):
    """The emulator was asked for something it will not do (e.g. listen beyond loopback)."""


@dataclass
class _Response:
    status: int
    body: dict[str, Any] | None
    kind: str  # which schema the body follows: import, create, list, error, or upload (no body)
    headers: dict[str, str]


def _error(status: int, err_type: str, code: str, message: str, field: str | None = None) -> _Response:
    error: dict[str, Any] = {"type": err_type, "code": code, "message": message}
    if field:
        error["detail"] = {"field": field}
    return _Response(status, {"error": error}, "error", {})


def require_loopback(host: str) -> None:
    """Refuse any address that is not on this machine's loopback interface."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise EmulatorConfigError(f"cannot resolve host {host!r}: {exc}") from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_loopback:
            raise EmulatorConfigError(f"the emulator listens on loopback only; {host!r} is {address}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (a lost-response fault, a killed process) is not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait on delayed ACKs
    server: _Server

    def _serve(self) -> None:
        self.server.emulator.handle(self)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr noise
        pass


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
    ) -> None:
        require_loopback(host)
        self._host, self._port = host, port
        self.api_key = api_key
        self.faults = FaultInjector(faults or FaultConfig())
        self.store = Store(
            Path(data_dir) if data_dir is not None else None,
            clock=clock,
            upload_valid_for=upload_valid_for,
            processing_delay=processing_delay,
        )
        self.record_bodies = record_bodies
        # Tests may watch requests as they are served: ("before" | "after" the change, method, route).
        self.on_request: Callable[[str, str, str], None] | None = None
        self.request_log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._log_file = open(request_log_path, "a", encoding="utf-8") if request_log_path else None  # noqa: SIM115
        self._server: _Server | None = None
        self._stopping = False
        self.base_url = ""  # set by bind(), e.g. http://127.0.0.1:54321
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def bind(self) -> Emulator:
        """Open the listening socket (port 0 picks a free one)."""
        server = _Server((self._host, self._port), _Handler)
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
        route = _route_of(path)
        entry: dict[str, Any] = {
            "method": method,
            # An upload token is a credential: the log keeps the route, never the token.
            "path": route if route == "/uploads/{token}" else path,
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
        self._write(handler, response, request_id)

    def _read_body(self, handler: _Handler) -> tuple[bytes, _Response | None]:
        length = handler.headers.get("Content-Length")
        if length is None:
            if handler.headers.get("Transfer-Encoding"):
                return b"", _error(411, "invalid_request_error", "length_required", "Content-Length is required")
            return b"", None
        try:
            return handler.rfile.read(int(length)), None
        except ValueError:
            return b"", _error(400, "invalid_request_error", "bad_length", "Content-Length is not a number")

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

    @staticmethod
    def _write(handler: _Handler, response: _Response, request_id: str) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        handler.send_response(response.status)
        handler.send_header("X-Request-Id", request_id)
        if response.body is not None:
            handler.send_header("Content-Type", "application/json")
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

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
        if route == "/uploads/{token}":
            if method != "PUT":
                return _error(405, "invalid_request_error", "method_not_allowed", f"{method} is not allowed")
            return self._upload(path[len(UPLOAD_PREFIX) :], handler, body)
        if route not in (API_PREFIX, API_PREFIX + "/{id}"):
            return _error(404, "not_found_error", "not_found", f"no route for {path}")
        if not self._authorized(handler):
            return _error(401, "authentication_error", "unauthorized", "a valid x-api-key header is required")
        try:
            return self._api(method, path, route, query, body, handler)
        except RequestInvalid as exc:
            return _error(400, "invalid_request_error", "invalid_parameter", str(exc), exc.field or None)
        except NotFound as exc:
            return _error(404, "not_found_error", "not_found", f"import {exc} not found")
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
                return _Response(200, store.list(limit, cursor), "list", {})
            if method == "POST":
                view, token, valid_until = store.create(validate_create(_json(body)))
                host = handler.headers.get("Host") or "{}:{}".format(*handler.server.server_address[:2])
                view = {**view, "uploadUrl": f"http://{host}{UPLOAD_PREFIX}{token}", "uploadValidUntil": valid_until}
                return _Response(201, view, "create", {})
            return _error(405, "invalid_request_error", "method_not_allowed", f"{method} is not allowed")
        import_id = path[len(API_PREFIX) + 1 :]
        if method == "GET":
            return _Response(200, store.get(import_id), "import", {})
        if method == "PATCH":
            return _Response(200, store.update(import_id, validate_update(_json(body))), "import", {})
        if method == "DELETE":
            return _Response(200, store.delete(import_id), "import", {})
        return _error(405, "invalid_request_error", "method_not_allowed", f"{method} is not allowed")

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


def _route_of(path: str) -> str:
    """The path template a path belongs to, so fault draws do not depend on random ids."""
    if path.startswith(UPLOAD_PREFIX) and "/" not in path[len(UPLOAD_PREFIX) :]:
        return "/uploads/{token}"
    if path == API_PREFIX:
        return API_PREFIX
    rest = path[len(API_PREFIX) + 1 :] if path.startswith(API_PREFIX + "/") else ""
    if rest and "/" not in rest:
        return API_PREFIX + "/{id}"
    return path
