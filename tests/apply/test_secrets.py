"""A server that echoes the API key and upload URLs in its errors: apply's outputs and files hold neither."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.apply.helpers import assert_no_secrets, rows, write_files
from tests.conftest import API_KEY

_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class EchoingProxy:
    """A loopback proxy in front of the emulator. Requests of one method are answered by the proxy itself
    with `status`, quoting the key it was sent and the upload URLs it has seen; a 500 comes as plain text
    (an error page), long enough that a client has to cut it."""

    def __init__(self, emulator, method: str, status: int) -> None:
        self.emulator, self.method, self.status = emulator, method, status
        self.keys: set[str] = set()
        # Upload URLs the emulator issued before the proxy came up, then each one it passes on.
        self.urls = [e["body"]["uploadUrl"] for e in emulator.request_log if e.get("kind") == "create"]
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                proxy.serve(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> EchoingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if handler.headers.get("x-api-key"):
            self.keys.add(handler.headers["x-api-key"])
        if handler.command == self.method:
            self._echo(handler)
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        headers["Host"] = handler.headers["Host"]  # so the upload URLs the emulator makes point here
        upstream = httpx.request(
            handler.command, self.emulator.base_url + handler.path, headers=headers, content=body, timeout=10
        )
        if handler.command == "POST" and upstream.status_code == 201:
            self.urls.append(upstream.json()["uploadUrl"])
        self._send(handler, upstream.status_code, upstream.content, upstream.headers)

    def _echo(self, handler: BaseHTTPRequestHandler) -> None:
        urls = [f"http://{handler.headers['Host']}{handler.path}"] if handler.command == "PUT" else self.urls
        said = f"key {' '.join(sorted(self.keys))} may not use {' or '.join(urls)}"
        if self.status == 500:
            payload = ("x" * 150 + " " + said).encode()
            headers = {"Content-Type": "text/plain", "Retry-After": "0"}
        else:
            payload = json.dumps({"error": {"type": "invalid_request_error", "message": said}}).encode()
            headers = {"Content-Type": "application/json"}
        self._send(handler, self.status, payload, {**headers, "X-Request-Id": "req_echo"})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() not in _HOP:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.mark.parametrize(
    ("method", "status"),
    [("PATCH", 400), ("PATCH", 500), ("POST", 400), ("POST", 500), ("PUT", 400), ("PUT", 500)],
)
def test_echoed_secrets_reach_no_output_or_file(make_emulator, tmp_path, monkeypatch, method, status):
    emulator = make_emulator()
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    files = {"a": rows(1, "a"), "b": rows(1, "b")}
    manifest = write_files(tmp_path, files)
    assert CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"]).exit_code == 0

    # One title changes (PATCH) and one import is added (POST, then PUT); the chosen request fails.
    files["c"] = rows(2, "c")
    write_files(tmp_path, files, titles={"a": "Renamed a"})
    summary = tmp_path / "summary.md"
    with EchoingProxy(emulator, method, status) as proxy:
        monkeypatch.setenv("EXA_BASE_URL", proxy.base_url)
        result = CliRunner().invoke(
            cli, ["apply", "-f", str(manifest), "--auto-approve", "--json", "--summary", str(summary)]
        )

    assert result.exit_code == 1, result.output
    (failure,) = json.loads(result.stdout)["failures"]
    assert failure["key"] == ("a" if method == "PATCH" else "c")
    assert f"HTTP {status}" in failure["message"] and "[redacted]" in failure["message"]
    assert f"HTTP {status}" in result.stderr and "Error: 1 action(s) failed" in result.stderr
    texts = [result.stdout, result.stderr, summary.read_text(), (tmp_path / "websets.lock").read_text()]
    assert_no_secrets(emulator, texts)
    assert proxy.keys == {API_KEY} and len(proxy.urls) >= 2
    assert all(url not in "".join(texts) for url in proxy.urls)
