"""The emulator's HTTP plumbing: loopback only, a handler that gives every method to the emulator, and
one way to write an answer (with its X-Request-Id, and no body for HEAD)."""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from reconciler.emulator.faults import UPLOAD_ROUTE

API_PREFIX = "/websets/v0/imports"
WEBSETS_PREFIX = "/websets/v0/websets"
UPLOAD_PREFIX = "/uploads/"


class EmulatorConfigError(ValueError):
    """The emulator was asked for something it will not do (e.g. listen beyond loopback)."""


class Serving(Protocol):
    def handle(self, handler: Handler) -> None: ...

    def refuse(self, handler: Handler, status: int, message: str) -> None: ...


def require_loopback(host: str) -> None:
    """Refuse any address that is not on this machine's loopback interface."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise EmulatorConfigError(f"cannot resolve host {host!r}: {exc}") from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_loopback:
            raise EmulatorConfigError(f"the emulator listens on loopback only; {host!r} is {address}")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Serving

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (a lost-response fault, a killed process) is not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait on delayed ACKs
    server: Server

    def _serve(self) -> None:
        self.server.emulator.handle(self)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method that has no do_<METHOD> with an HTML 501 and no request id; the API
        # answers every method itself (a JSON 405 where it is not allowed).
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a malformed request line, an overlong URI or header) get the API's
        # JSON error and request id too, never its HTML page. Its message may quote the request line, and
        # with it an upload token, so the answer says only what kind of refusal it is.
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unreadable request line: answer with headers all the same
            self.request_version = self.protocol_version
        status = HTTPStatus(code)
        self.server.emulator.refuse(self, status.value, f"{status.phrase}: {status.description}")

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr noise
        pass


def write(
    handler: Handler, status: int, body: Any, headers: dict[str, str], request_id: str, text: str | None = None
) -> None:
    """Send one answer (`text`: the body's JSON, when it is written already); a HEAD answer carries the
    headers of the body it leaves out."""
    if text is None and body is not None:
        text = json.dumps(body)
    payload = b"" if text is None else text.encode()
    handler.send_response(status)
    handler.send_header("X-Request-Id", request_id)
    if text is not None:
        handler.send_header("Content-Type", "application/json")
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)


def route_of(path: str) -> str:
    """The path template a path belongs to, so fault draws do not depend on random ids."""
    if path.startswith(UPLOAD_PREFIX) and "/" not in path[len(UPLOAD_PREFIX) :]:
        return UPLOAD_ROUTE
    for prefix in (API_PREFIX, WEBSETS_PREFIX):
        if path == prefix:
            return prefix
        rest = path[len(prefix) + 1 :] if path.startswith(prefix + "/") else ""
        if rest and "/" not in rest:
            return prefix + "/{id}"
    return path


ALLOWED = {
    API_PREFIX: "GET, POST",
    API_PREFIX + "/{id}": "GET, PATCH, DELETE",
    WEBSETS_PREFIX: "GET",  # the websets are read-only here: seeded, never made through the API
    WEBSETS_PREFIX + "/{id}": "GET",
    UPLOAD_ROUTE: "PUT",
}
