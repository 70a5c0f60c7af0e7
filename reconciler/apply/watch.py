"""Waiting for imports to finish processing: one poller serves every waiting worker, by reading the listing.

    worker   watch(id, createdAt), then wait(...) ..... blocks until the import is final, its deadline
                                                        passes, or the stop event is set
    poller   sleep: the PollPolicy backoff (reset when new ids arrive; none for the first after a quiet
             spell), and at most a share of the request budget
             one import watched: GET it
             several: list newest first until every watched id was seen, or the listing is past the
             oldest watched createdAt; an id the listing should have shown and did not (deleted
             meanwhile) is read with GET, so its waiter hears the 404 instead of waiting forever
             wake the waiters whose imports are final

A page holds 200 imports, so waiting for many imports costs about one request per poll, not one per import.
A waiter gives up (deadline, stop) only once a poll has seen its import still processing: an import that
is already done when its worker starts waiting is reported done.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.apply.interrupt import leave_signals_to_the_main_thread
from reconciler.errors import ApiError
from reconciler.remote.answers import parse_time
from reconciler.remote.state import PAGE_SIZE

FINAL = frozenset({"completed", "failed", "canceled"})
POLL_SHARE = 1 / 8  # of the request budget, the most that polling spends once its burst is used
POLL_BURST = 3.0  # polls that may follow the backoff's pace before that share applies
MAX_POLL_PAGES = 10  # deeper than this, the watched imports not yet seen are read one by one
STOP_CHECK = 0.1  # seconds: how soon a waiter notices the stop event


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to wait for processing: first delay, growth, cap (seconds)."""

    first: float = 0.1
    factor: float = 1.6
    cap: float = 5.0


class StillProcessing(Exception):
    """The import was not final at the deadline, or the run is stopping."""


class Client(Protocol):
    def list_page(self, cursor: str | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]: ...
    def get(self, import_id: str) -> dict[str, Any]: ...


class Watch:
    """One watched import: since when it exists (the server's createdAt), and what became of it."""

    __slots__ = ("error", "final", "import_id", "polled", "since", "waiters")

    def __init__(self, import_id: str, since: float) -> None:
        self.import_id, self.since = import_id, since
        self.final: dict[str, Any] | None = None
        self.error: Exception | None = None
        self.polled = False  # a poll has seen it (still processing, or final)
        self.waiters = 0


def _since(created_at: str | None) -> float:
    try:
        parsed = parse_time(created_at)
    except ValueError:
        parsed = None
    return -math.inf if parsed is None else parsed  # unknown: the listing goes as deep as it may


class Watcher:
    """The shared poller of one run. `sleep` and `clock` pace the poller (tests turn them off)."""

    def __init__(
        self,
        client: Client,
        poll: PollPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._poll = client, poll or PollPolicy()
        self._sleep, self._clock = sleep, clock
        self._cond = threading.Condition()
        self._watched: dict[str, Watch] = {}
        self._fresh = False  # ids arrived since the last poll
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- the workers' side ----------------------------------------------------------------------

    def watch(self, import_id: str, created_at: str | None) -> Watch:
        """Start watching an import (its createdAt as the API gave it); `wait` on the result."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the watcher is closed")
            watch = self._watched.get(import_id)
            if watch is None:
                watch = self._watched[import_id] = Watch(import_id, _since(created_at))
                self._fresh = True
            watch.waiters += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="watch", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return watch

    def wait(
        self,
        watch: Watch,
        *,
        timeout: float,
        stop: threading.Event | None = None,
        on_long_wait: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """The import once completed, failed or canceled. Raises StillProcessing at the deadline or once
        `stop` is set, and the ApiError a poll met for it (a 404: deleted meanwhile). `on_long_wait` is
        called once, when a poll has seen the import still processing."""
        deadline = self._clock() + timeout
        told = False
        with self._cond:
            try:
                while True:
                    if watch.error is not None:
                        raise watch.error
                    if watch.final is not None:
                        return watch.final
                    if self._closed:  # no poll is coming
                        raise StillProcessing(watch.import_id)
                    if watch.polled:
                        if not told and on_long_wait is not None:
                            told = True
                            on_long_wait()
                        if (stop is not None and stop.is_set()) or self._clock() >= deadline:
                            raise StillProcessing(watch.import_id)
                    self._cond.wait(STOP_CHECK)
            finally:
                watch.waiters -= 1
                if watch.waiters == 0 and self._watched.get(watch.import_id) is watch:
                    del self._watched[watch.import_id]

    def wait_for(
        self, import_id: str, created_at: str | None, *, timeout: float, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        """`watch` and `wait` in one call."""
        return self.wait(self.watch(import_id, created_at), timeout=timeout, stop=stop)

    def close(self) -> None:
        """End the poller (it finishes a request under way, and then stops)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the poller -----------------------------------------------------------------------------

    def _share(self) -> float:
        """Polls a second that keep polling to its share of the request budget (0: no budget)."""
        budget = getattr(self._client, "budget", None)
        return budget.rate * POLL_SHARE if budget is not None else 0.0

    def _run(self) -> None:
        leave_signals_to_the_main_thread()
        delay = self._poll.first
        allowance, last = POLL_BURST, self._clock()
        while True:
            with self._cond:
                idle = not self._watched
                while not self._watched and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                if self._fresh:
                    # The first import after a quiet spell is looked at at once (it may be done already);
                    # later arrivals restart the backoff.
                    delay, self._fresh = (0.0 if idle else self._poll.first), False
            share = self._share()
            now = self._clock()
            allowance, last = min(POLL_BURST, allowance + (now - last) * share), now
            pause = delay if share <= 0 or allowance >= 1 else max(delay, (1 - allowance) / share)
            self._sleep(pause)
            with self._cond:
                if self._closed:
                    return
                watched = list(self._watched.values())
            if not watched:
                continue
            try:
                made = self._poll_once(watched)
            except Exception as exc:  # every waiter must hear it, or it waits forever
                self._settle(watched, error=exc)
                made = 1
            now = self._clock()
            allowance, last = min(POLL_BURST, allowance + (now - last) * share) - made, now
            delay = min(self._poll.cap, max(self._poll.first, delay * self._poll.factor))

    def _poll_once(self, watched: list[Watch]) -> int:
        """Look at every watched import once; return the requests made."""
        if len(watched) == 1:
            self._get(watched[0])
            return 1
        unseen = {w.import_id: w for w in watched}
        cursor: str | None = None
        pages = 0
        while unseen and pages < MAX_POLL_PAGES:
            page = self._client.list_page(cursor, PAGE_SIZE)
            pages += 1
            data = page.get("data") or []
            for item in data:
                watch = unseen.pop(item["id"], None)
                if watch is not None:
                    self._settle([watch], item=item)
            cursor = page.get("nextCursor")
            if not unseen or not page.get("hasMore") or not cursor or len(unseen) == 1:
                break  # one left: a GET is as cheap as another page, and certain
            oldest = min(w.since for w in unseen.values())
            if data and (_since(data[-1]["createdAt"]) < oldest):
                break  # newest first: the listing is past every import still unseen
        for watch in unseen.values():  # not where the listing should have shown it: deleted, or deeper
            self._get(watch)
        return pages + len(unseen)

    def _get(self, watch: Watch) -> None:
        try:
            item = self._client.get(watch.import_id)
        except ApiError as exc:
            self._settle([watch], error=exc)
        else:
            self._settle([watch], item=item)

    def _settle(
        self, watches: list[Watch], *, item: dict[str, Any] | None = None, error: Exception | None = None
    ) -> None:
        with self._cond:
            for watch in watches:
                watch.polled = True
                if error is not None:
                    watch.error = error
                elif item is not None and item["status"] in FINAL:
                    watch.final = item
                else:
                    continue
                if self._watched.get(watch.import_id) is watch:
                    del self._watched[watch.import_id]
            self._cond.notify_all()
