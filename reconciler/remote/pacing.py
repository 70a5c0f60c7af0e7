"""Pacing every request of a run under the team's rate limit: the request budget and the shared pause.

Exa limits requests per team (10 a second on the common plans), and everything else the team runs spends
the same limit. The `Budget` keeps a run under its own rate so that it does not collide with the limit;
the `Pause` is what a 429's Retry-After imposes on every worker at once.

The budget is a token bucket whose tokens come back one window (a second) after they were spent, rather
than dripping back continuously: a limiter that counts the requests of the last second (as the emulator
does, and as a per-second quota does) then never sees more than `rate` of them, bursts included, while a
short run of requests still goes out at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

WINDOW = 1.0  # seconds: the span a rate limit counts requests over
# The server counts a request when it arrives, which is after we send it; a token is held for this much
# longer (at most) than the request took, so a request delayed on its way cannot share a window with the
# one that later reuses its token. A request answered sooner gives its token back sooner (`settle`), so
# the margin costs nothing in the common case; it covers a request still unanswered when another worker
# reserves its token, which a busy machine (a collector pause, a loaded CI runner) can delay on its way
# by more than a tenth of a second.
MARGIN = 0.5
QUIET = 10.0  # seconds without a 429 before a lowered rate climbs back by one request a second
# The lowest rate a run may choose (besides 0, no pacing): one request every 10 s. Below it a run of a few
# hundred requests takes hours and every wait outlasts anyone's patience with Ctrl-C.
MIN_RATE = 0.1


class Pause:
    """A run-wide back-off: after a 429, every request waits until the Retry-After has passed."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self._sleep, self._clock = sleep, clock
        self._until = 0.0
        self._lock = threading.Lock()

    def push(self, seconds: float) -> None:
        """Hold every request for `seconds` from now (a later end wins)."""
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def wait(self) -> None:
        """Return once the pause, if any, has passed."""
        with self._lock:
            remaining = self._until - self._clock()
        if remaining > 0:
            self._sleep(remaining)


def _checked(rate: float) -> float:
    if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0 or 0 < rate < MIN_RATE:
        raise ValueError(f"a request rate is 0 or a finite number >= {MIN_RATE:g}, not {rate!r}")
    return float(rate)


class Budget:
    """Requests a second for every worker of a run together; `rate` 0 turns pacing off.

    Thread-safe. `take()` blocks until a token is free and returns a ticket; `settle(ticket)` once the
    answer (or the error) arrived lets the token come back sooner than the worst case. A rate of 1 or more
    allows floor(rate) requests in any second; below 1, one request every 1/rate seconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        quiet: float = QUIET,
    ) -> None:
        self._sleep, self._clock, self._quiet = sleep, clock, quiet
        self._lock = threading.Lock()
        self._ceiling = self._rate = _checked(rate)
        self._held: dict[int, float] = {}  # ticket -> when its token comes back
        self._slots: dict[int, float] = {}  # ticket -> when its request was let go
        self._next = 0
        self._changed = clock()  # the last time the rate was lowered or raised
        self._fresh_from = 0  # the first ticket given out since the rate was last lowered

    @property
    def rate(self) -> float:
        """Requests a second now (lower than `ceiling` for a while after a 429); 0: no pacing."""
        with self._lock:
            return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        value = _checked(value)
        with self._lock:
            self._ceiling = self._rate = value
            self._changed = self._clock()

    @property
    def ceiling(self) -> float:
        """The rate chosen for the run, which a lowered rate climbs back to."""
        with self._lock:
            return self._ceiling

    def _shape(self) -> tuple[int, float]:
        if self._rate >= 1:
            return int(self._rate), WINDOW
        return 1, WINDOW / self._rate

    def take(self, on_wait: Callable[[float], None] | None = None) -> tuple[int | None, float]:
        """Wait for a token (telling `on_wait` how long first); return (ticket, seconds waited). The
        ticket is None when pacing is off."""
        with self._lock:
            now = self._clock()
            if self._rate <= 0:
                return None, 0.0
            if self._rate < self._ceiling and now - self._changed >= self._quiet:
                self._rate = min(self._ceiling, self._rate + 1.0)
                self._changed = now
            capacity, window = self._shape()
            slot = now
            if len(self._held) >= capacity:
                back = sorted(self._held.values())
                slot = max(now, back[len(back) - capacity])
            # A reservation: the slot is ours even if another worker asks while we sleep until it.
            for ticket in [t for t, until in self._held.items() if until <= slot]:
                del self._held[ticket]
                self._slots.pop(ticket, None)
            ticket = self._next
            self._next += 1
            self._held[ticket] = slot + window + MARGIN
            self._slots[ticket] = slot
        waited = slot - now
        if waited > 0:
            if on_wait is not None:
                on_wait(waited)
            self._sleep(waited)
        return ticket, max(0.0, waited)

    def settle(self, ticket: int | None) -> None:
        """The ticket's request has its answer: its token comes back one window after the request went,
        plus however long the request took up to MARGIN (by then the server has counted it)."""
        if ticket is None:
            return
        with self._lock:
            slot = self._slots.get(ticket)
            if slot is None or ticket not in self._held:
                return
            _, window = self._shape() if self._rate > 0 else (1, WINDOW)
            took = min(MARGIN, max(0.0, self._clock() - slot))
            self._held[ticket] = min(self._held[ticket], slot + window + took)

    def lower(self, ticket: int | None) -> float | None:
        """A 429 met by the ticket's request: halve the rate (never below 1 a second, or the rate chosen
        if that is lower). Returns the new rate, or None when nothing changed: pacing is off, or the
        request was let go before the last lowering (its 429 says nothing about the lowered rate)."""
        with self._lock:
            if self._rate <= 0 or ticket is None or ticket < self._fresh_from:
                return None
            self._changed = self._clock()  # a 429 at the floor still restarts the quiet period
            lowered = max(min(1.0, self._ceiling), self._rate / 2)
            if lowered >= self._rate:
                return None
            self._rate, self._fresh_from = lowered, self._next
            return lowered
