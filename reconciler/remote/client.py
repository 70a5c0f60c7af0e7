"""The HTTP client of the Imports API: timeouts, retries where they are safe, and clean errors.

Retried: GET, DELETE and PATCH (repeating them has the same effect) on 429, 5xx and transport errors,
with capped exponential backoff and full jitter, honouring Retry-After. A POST is retried only on 429
(the request was refused before any work); any other failure of a POST is an `OutcomeUnknown` that the
caller resolves by looking for the create's operation stamp. One `Pause` is shared by every request of
a run, so a 429 slows all workers down, not just the one that met it. An upload PUT is retried like the
idempotent calls, but only while its URL is valid (the upload host refuses a second PUT that lands).

Every request to the API host spends the run's request `Budget` (`pacing`), so the workers together stay
under the team's rate limit instead of colliding with it; a 429 lowers the budget's rate for a while.
Uploads go to the object store, which is not under that limit. Each retry, and each long wait for the
budget, is told to `notice` in one line. A connection refused or a name that does not resolve on the
first request of a run is reported at once (`Unreachable`): retrying a wrong address only delays the error.

Every answer is checked before it is used (`answers`): one that is not JSON or lacks what the tool
relies on is an ApiError naming the request, never a traceback further on.

The API key travels only in the x-api-key header to the API host; uploads go through a separate
client that never carries it. The key and each upload URL are registered with `redact`, so no message
includes them even when a server echoes them back.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx

from reconciler import __version__
from reconciler.errors import ApiError, ConfigError, CsvChanged, TransportError
from reconciler.files import open_regular
from reconciler.model import CsvFile
from reconciler.redact import redact, register, register_url, register_userinfo
from reconciler.remote.answers import (
    create_problem,
    error_message,
    import_problem,
    page_problem,
    parse_time,
    request_id,
    retry_after,
    webset_page_problem,
)
from reconciler.remote.connect import Unreachable, check_base_url, unreachable
from reconciler.remote.pacing import Budget, Pause

__all__ = ["DEFAULT_MAX_RPS", "ApiClient", "Budget", "OutcomeUnknown", "Pause", "RetryPolicy", "Stopped", "Unreachable"]

IMPORTS = "/websets/v0/imports"
WEBSETS = "/websets/v0/websets"
DEFAULT_BASE_URL = "https://api.exa.ai"
DEFAULT_MAX_RPS = 8.0  # under the 10 a second of the common plans, leaving room for the team's other clients
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
BUDGET_NOTICE_AFTER = 1.0  # seconds: a shorter wait for the budget is ordinary pacing, not news
BUDGET_NOTICE_EVERY = 10.0  # seconds between two such notices, so that a slow run does not flood the output


class Stopped(ApiError):
    """A create not sent because the run is stopping: nothing was made."""

    def __init__(self, operation: str) -> None:
        super().__init__(operation, 0, "not sent: the run is stopping", None)


class OutcomeUnknown(TransportError):
    """A create whose effect is unknown: it may or may not have been made."""

    @classmethod
    def answered(cls, operation: str, status: int, message: str, request_id: str | None) -> OutcomeUnknown:
        """An answer that does not say what was made: a 5xx, or a 2xx that cannot be used."""
        error = cls(operation, message)
        ApiError.__init__(error, operation, status, message, request_id)
        return error


def _per_second(rate: float) -> str:
    return f"{rate:.3g}/s"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts in all, and the backoff's base and cap in seconds."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 120.0


def _object_problem(answer: Any) -> str | None:
    return None if type(answer) is dict else "the answer: not an object"


def _verified(f: IO[bytes], csv: CsvFile, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The file's bytes, hashed as they are read. The last chunk is held back until the whole file has
    matched the planned size and sha256, so a changed file never reaches the upload host complete."""
    digest = hashlib.sha256()
    total = 0
    held = b""
    while data := f.read(chunk):
        total += len(data)
        if total > csv.size:
            now = max(total, os.fstat(f.fileno()).st_size)
            raise CsvChanged(csv.display, f"{csv.size:,} -> {now:,} bytes")
        digest.update(data)
        if held:
            yield held
        held = data
    if total != csv.size:
        raise CsvChanged(csv.display, f"{csv.size:,} -> {total:,} bytes")
    found = digest.hexdigest()
    if found != csv.sha256:
        raise CsvChanged(csv.display, f"sha256 {csv.sha256[:12]}… -> {found[:12]}…")
    yield held


# The websets listing (which websets use an import) is read with a short timeout and one retry.
WEBSETS_ATTEMPTS = 2
WEBSETS_TIMEOUT = 10.0


class ApiClient:
    """The Imports API over httpx. `sleep`, `rng` and `now` (wall-clock time) exist so tests can turn
    backoff (and the budget's waits) off and move time. `max_rps` is the request budget's rate (None: the
    default, 0: no pacing), changeable later through `budget.rate`; `notice` hears each retry in one line."""

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
        now: Callable[[], float] = time.time,
        max_rps: float | None = None,
    ) -> None:
        register(api_key)
        register_userinfo(base_url)
        self.websets_timeout = WEBSETS_TIMEOUT
        self.base_url = check_base_url(base_url)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        common: dict[str, Any] = {
            "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            "follow_redirects": False,  # a redirect could carry the key to another host
            "transport": transport,
            "limits": limits,
            "verify": httpx.create_ssl_context(),  # one for both clients: reading the CA bundle takes 20 ms
        }
        agent = {"User-Agent": f"websets-reconciler/{__version__}"}
        self._http = httpx.Client(base_url=self.base_url, headers={**agent, "x-api-key": api_key}, **common)
        self._upload_http = httpx.Client(headers=agent, **common)
        self.retry = retry or RetryPolicy()
        self._sleep, self._rng, self._now = sleep, rng, now
        # Set once the run is stopping (the first Ctrl-C): waits for the budget or a 429's pause end at
        # once, and no create that has not been sent goes out (`Stopped`).
        self.stop = threading.Event()
        wait = sleep if sleep is not time.sleep else (lambda seconds: self.stop.wait(seconds))
        self.pause = pause or Pause(wait)
        self.budget = Budget(DEFAULT_MAX_RPS if max_rps is None else max_rps, sleep=wait)
        self._rate_chosen = max_rps is not None  # by --max-rps or WEBSETS_MAX_RPS, which beat the manifest
        self.notice: Callable[[str], None] = lambda message: None
        # Asked before every write (POST, PATCH, DELETE); raises to stop one that must not go out, as the
        # state lock does once it may have passed to another run.
        self.guard: Callable[[], None] | None = None
        self.requests = 0  # requests sent, retries included
        self._count_lock = threading.Lock()
        self._reached = False  # whether any answer came from the API host yet
        self._budget_noticed = -math.inf

    def prefer_rate(self, max_rps: float | None) -> None:
        """Take the manifest's api.max_rps, unless the command line chose the rate."""
        if max_rps is not None and not self._rate_chosen:
            self.budget.rate = float(max_rps)

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
        return self._call("GET", IMPORTS, check=page_problem, params=params)

    def list_websets_page(self, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
        """One page of the websets listing, checked to the point where its references to imports can be read."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        # Which websets use an import is a courtesy of the plan: a listing that hangs must not hold it up.
        timeout = self.websets_timeout
        return self._call(
            "GET", WEBSETS, check=webset_page_problem, params=params, attempts=WEBSETS_ATTEMPTS, timeout=timeout
        )

    def get(self, import_id: str) -> dict[str, Any]:
        return self._call("GET", f"{IMPORTS}/{import_id}")

    def update(self, import_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"{IMPORTS}/{import_id}", json=body)

    def delete(self, import_id: str) -> dict[str, Any] | None:
        """Delete; None when a retry found it already gone (an earlier attempt's answer was lost)."""
        return self._call("DELETE", f"{IMPORTS}/{import_id}", check=_object_problem, gone_ok=True)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create once; raise OutcomeUnknown when the import may or may not exist afterwards, including
        when the answer cannot be used (no usable upload URL): the caller cleans up by the stamp."""
        return self._call("POST", IMPORTS, check=create_problem, json=body)

    def upload(self, upload_url: str, csv: CsvFile, import_id: str, *, valid_until: str | None = None) -> None:
        """PUT exactly the bytes the plan hashed to the upload URL, streamed from disk, without the API key.

        Retried on 429 (through the shared pause), 5xx and lost connections, but never past `valid_until`.
        Raises CsvChanged (not retried) when the file is not what was planned, OutcomeUnknown when no
        answer came, and ApiError for a refusal (403: the URL was used already, or expired).
        """
        operation = f"upload of the CSV for {import_id}"
        register_url(upload_url)
        deadline = parse_time(valid_until)
        for attempt in range(self.retry.attempts):
            self.pause.wait()
            self._count()
            response = None
            try:
                with open(open_regular(csv.absolute), "rb") as f:
                    response = self._upload_http.put(
                        upload_url,
                        content=_verified(f, csv),
                        headers={"Content-Type": "text/csv", "Content-Length": str(csv.size)},
                    )
            except httpx.HTTPError as exc:
                error: ApiError = OutcomeUnknown(operation, type(exc).__name__)
            except OSError as exc:
                raise ApiError(operation, 0, f"cannot read {csv.display}: {exc.strerror}", None) from None
            else:
                if response.status_code < 300:
                    return
                error = ApiError(operation, response.status_code, error_message(response), request_id(response))
                if response.status_code not in _RETRY_STATUS:
                    raise error
            delay, shared = self._delay(response, attempt)
            if attempt == self.retry.attempts - 1 or (deadline is not None and self._now() + delay >= deadline):
                raise error
            what = str(response.status_code) if response is not None else error.detail
            self._retrying(what, operation, attempt, delay, shared)
            self._hold(delay, shared)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- machinery ------------------------------------------------------------------------------

    def _count(self) -> None:
        with self._count_lock:
            self.requests += 1

    def _spend(self) -> int | None:
        """Wait for the budget (after any pause a 429 imposed); the ticket goes back through `settle`."""
        self.pause.wait()
        ticket, _ = self.budget.take(on_wait=self._budget_wait)
        self._count()
        return ticket

    def _budget_wait(self, seconds: float) -> None:
        now = time.monotonic()
        if seconds > BUDGET_NOTICE_AFTER and now - self._budget_noticed >= BUDGET_NOTICE_EVERY:
            self._budget_noticed = now
            self.notice(f"waiting {seconds:.1f} s for the request budget ({_per_second(self.budget.rate)})")

    def _retrying(
        self, what: str, operation: str, attempt: int, delay: float, shared: bool, lowered: float | None = None
    ) -> None:
        """Say that a request is about to be tried again, and after how long."""
        n, of = attempt + 1, self.retry.attempts - 1
        when = f"pausing {delay:.1f} s, then retry {n}/{of}" if shared else f"retry {n}/{of} in {delay:.1f} s"
        rate = f" (rate limit lowered to {_per_second(lowered)})" if lowered is not None else ""
        self.notice(redact(f"{what} from {operation}; {when}{rate}"))

    def _backoff(self, attempt: int) -> float:
        return self._rng() * min(self.retry.cap, self.retry.base * (2**attempt))

    def _delay(self, response: httpx.Response | None, attempt: int) -> tuple[float, bool]:
        """Seconds before the next attempt, and whether they are shared by every request (a 429's Retry-After)."""
        delay = retry_after(response, self._now()) if response is not None else None
        if delay is None:
            return self._backoff(attempt), False
        return min(delay, self.retry.max_retry_after), response is not None and response.status_code == 429

    def _hold(self, delay: float, shared: bool) -> None:
        if shared:
            self.pause.push(delay)  # every request, the next attempt included, waits at pause.wait()
        else:
            self._sleep(delay)

    def _answer(self, method: str, operation: str, response: httpx.Response, check: Callable[[Any], str | None]) -> Any:
        """The checked JSON of a 2xx answer; an ApiError naming the request when it cannot be used."""
        try:
            body = response.json()
        except ValueError:
            problem = "the answer is not JSON"
        except RecursionError:
            problem = "the answer is nested too deeply to be an answer of the API"
        else:
            if method == "POST" and type(body) is dict and type(body.get("uploadUrl")) is str:
                register_url(body["uploadUrl"])  # before any check, so no message can show it
            found = check(body)
            if found is None:
                return body
            problem = f"unusable answer: {found}"
        if method == "POST":
            raise OutcomeUnknown.answered(operation, response.status_code, problem, request_id(response))
        raise ApiError(operation, response.status_code, problem, request_id(response))

    def _call(
        self,
        method: str,
        path: str,
        *,
        check: Callable[[Any], str | None] = import_problem,
        gone_ok: bool = False,
        attempts: int | None = None,
        **kwargs: Any,
    ) -> Any:
        operation = f"{method} {path}"
        tries = attempts or self.retry.attempts
        for attempt in range(tries):
            last = attempt == tries - 1
            ticket = self._spend()
            if method != "GET" and self.guard is not None:  # each attempt: a retry may come long after
                try:
                    self.guard()
                except BaseException:
                    self.budget.settle(ticket)
                    raise
            if method == "POST" and self.stop.is_set():  # a create is new work: it does not start now
                self.budget.settle(ticket)
                raise Stopped(operation)
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                self.budget.settle(ticket)
                reason = type(exc).__name__
                if not self._reached and (why := unreachable(exc)) is not None:
                    raise Unreachable(self.base_url, why) from None
                if method == "POST":
                    raise OutcomeUnknown(operation, reason) from None
                if last:
                    raise TransportError(operation, reason) from None
                delay = self._backoff(attempt)
                self._retrying(reason, operation, attempt, delay, False)
                self._sleep(delay)
                continue
            self.budget.settle(ticket)
            self._reached = True
            status = response.status_code
            if status < 300:
                return self._answer(method, operation, response, check)
            if gone_ok and status == 404 and attempt > 0:
                return None
            rid = request_id(response)
            retryable = status in _RETRY_STATUS and (method != "POST" or status == 429)
            if method == "POST" and status >= 500:
                raise OutcomeUnknown.answered(operation, status, error_message(response), rid)
            if not retryable or last:
                raise ApiError(operation, status, error_message(response), rid)
            delay, shared = self._delay(response, attempt)
            # The limit is lower than the budget (or others of the team spend it too): slow down for a while.
            lowered = self.budget.lower(ticket) if status == 429 else None
            self._retrying(str(status), operation, attempt, delay, shared, lowered)
            self._hold(delay, shared)
        raise AssertionError("unreachable")  # pragma: no cover
