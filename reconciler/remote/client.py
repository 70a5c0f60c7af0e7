"""The HTTP client of the Imports API: timeouts, retries where they are safe, and clean errors.

Retried: GET, DELETE and PATCH (repeating them has the same effect) on 429, 5xx and transport errors,
with capped exponential backoff and full jitter, honouring Retry-After. A POST is retried only on 429
(the request was refused before any work); any other failure of a POST is an `OutcomeUnknown` that the
caller resolves by looking for the create's operation stamp. One `Pause` is shared by every request of
a run, so a 429 slows all workers down, not just the one that met it.

The API key travels only in the x-api-key header to the API host; uploads go through a separate
client that never carries it, and no message ever includes the key or an upload URL.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler import __version__
from reconciler.errors import ApiError, ConfigError, TransportError

IMPORTS = "/websets/v0/imports"
DEFAULT_BASE_URL = "https://api.exa.ai"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class OutcomeUnknown(TransportError):
    """A create whose effect is unknown: it may or may not have been made."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts in all, and the backoff's base and cap in seconds."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 120.0


class Pause:
    """A run-wide back-off: after a 429, every request waits until the Retry-After has passed."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self._sleep, self._clock = sleep, clock
        self._until = 0.0
        self._lock = threading.Lock()

    def push(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def wait(self) -> None:
        with self._lock:
            remaining = self._until - self._clock()
        if remaining > 0:
            self._sleep(remaining)


def check_base_url(base_url: str) -> str:
    """Refuse plain http:// except to a loopback address, so the key never crosses a network in clear."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"EXA_BASE_URL must be an http(s) URL, not {base_url!r}")
    if parts.scheme == "http":
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(f"EXA_BASE_URL {base_url!r} uses plain http; only https, or http to a loopback address")
    return base_url.rstrip("/")


def _retry_after(response: httpx.Response, now: float) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def error_message(response: httpx.Response) -> str:
    """A one-line message from any error body: the API's JSON shapes, or text, or the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return " ".join(str(error["message"]).split())
        if isinstance(body.get("message"), str):
            return " ".join(body["message"].split())
        if isinstance(error, str):
            return error
    text = " ".join(response.text.split())[:200] if response.content else ""
    return text or response.reason_phrase or "no message"


class ApiClient:
    """The Imports API over httpx. `sleep` and `rng` exist so tests can turn backoff off."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        pause: Pause | None = None,
        max_connections: int = 32,
    ) -> None:
        self.base_url = check_base_url(base_url)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        common: dict[str, Any] = {
            "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            "follow_redirects": False,  # a redirect could carry the key to another host
            "transport": transport,
            "limits": limits,
        }
        agent = {"User-Agent": f"websets-reconciler/{__version__}"}
        self._http = httpx.Client(base_url=self.base_url, headers={**agent, "x-api-key": api_key}, **common)
        self._upload_http = httpx.Client(headers=agent, **common)
        self.retry = retry or RetryPolicy()
        self._sleep, self._rng = sleep, rng
        self.pause = pause or Pause(sleep)
        self.requests = 0  # requests sent, retries included
        self._count_lock = threading.Lock()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **options: Any) -> ApiClient:
        """Build from EXA_API_KEY and EXA_BASE_URL."""
        env = dict(os.environ if env is None else env)
        key = env.get("EXA_API_KEY", "").strip()
        if not key:
            raise ConfigError("EXA_API_KEY is not set: export your Exa API key (plan and apply need it)")
        return cls(env.get("EXA_BASE_URL") or DEFAULT_BASE_URL, key, **options)

    def close(self) -> None:
        self._http.close()
        self._upload_http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the calls ------------------------------------------------------------------------------

    def list_page(self, cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self._call("GET", IMPORTS, params=params)

    def get(self, import_id: str) -> dict[str, Any]:
        return self._call("GET", f"{IMPORTS}/{import_id}")

    def update(self, import_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"{IMPORTS}/{import_id}", json=body)

    def delete(self, import_id: str) -> dict[str, Any] | None:
        """Delete; None when a retry found it already gone (an earlier attempt's answer was lost)."""
        return self._call("DELETE", f"{IMPORTS}/{import_id}", gone_ok=True)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create once; raise OutcomeUnknown when the import may or may not exist afterwards."""
        return self._call("POST", IMPORTS, json=body)

    def upload(self, upload_url: str, path: str, size: int, import_id: str) -> None:
        """PUT the file's bytes, streamed from disk, to the upload URL, without the API key."""
        operation = f"upload of the CSV for {import_id}"
        self.pause.wait()
        self._count()
        try:
            with open(path, "rb") as f:
                response = self._upload_http.put(
                    upload_url,
                    content=_stream(f),
                    headers={"Content-Type": "text/csv", "Content-Length": str(size)},
                )
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(operation, type(exc).__name__) from None
        except OSError as exc:
            raise ApiError(operation, 0, f"cannot read the CSV: {exc.strerror}", None) from None
        if response.status_code >= 300:
            raise ApiError(
                operation, response.status_code, error_message(response), response.headers.get("X-Request-Id")
            )

    # -- machinery ------------------------------------------------------------------------------

    def _count(self) -> None:
        with self._count_lock:
            self.requests += 1

    def _backoff(self, attempt: int) -> float:
        return self._rng() * min(self.retry.cap, self.retry.base * (2**attempt))

    def _call(self, method: str, path: str, *, gone_ok: bool = False, **kwargs: Any) -> Any:
        operation = f"{method} {path}"
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            self.pause.wait()
            self._count()
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
                if method == "POST":
                    raise OutcomeUnknown(operation, reason) from None
                if last:
                    raise TransportError(operation, reason) from None
                self._sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status < 300:
                return response.json()
            if gone_ok and status == 404 and attempt > 0:
                return None
            request_id = response.headers.get("X-Request-Id")
            retryable = status in _RETRY_STATUS and (method != "POST" or status == 429)
            if method == "POST" and status >= 500:
                raise OutcomeUnknown(operation, f"HTTP {status}: {error_message(response)}") from None
            if not retryable or last:
                raise ApiError(operation, status, error_message(response), request_id)
            delay = _retry_after(response, time.time())
            if delay is not None:
                delay = min(delay, self.retry.max_retry_after)
                if status == 429:
                    self.pause.push(delay)  # every request, this one included, waits at pause.wait()
                else:
                    self._sleep(delay)
            else:
                self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


def _stream(f: Any, chunk: int = 1 << 20) -> Any:
    while data := f.read(chunk):
        yield data
