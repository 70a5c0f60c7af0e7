"""Seeded, reproducible faults for reliability tests: latency, 5xx, 429, a rate limit, lost responses.

Each decision draws from a generator seeded by (seed, method, route, n), where n counts earlier
requests to the same route with the same method. The same sequence of requests therefore meets the
same faults in every run, and parallel requests to different imports do not disturb each other.

The API's 429s (throttle, rps_limit) never meet an upload: an upload goes to the object store behind
its presigned URL, which is not under the API's per-team limit. The store has its own throttling
(upload_throttle, upload_rps_limit), answered as S3 answers it: `503 SlowDown`, with no Retry-After.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

METHODS = frozenset({"GET", "POST", "PATCH", "DELETE", "PUT"})
UPLOAD_ROUTE = "/uploads/{token}"


@dataclass(frozen=True, slots=True)
class Rate:
    """A probability in [0, 1] that applies to the given methods (None: every method)."""

    rate: float = 0.0
    methods: frozenset[str] | None = None

    def applies(self, method: str) -> bool:
        return self.rate > 0 and (self.methods is None or method in self.methods)

    @classmethod
    def parse(cls, spec: str) -> Rate:
        """Read `RATE` or `RATE:METHOD,METHOD`, e.g. `0.2:POST,PUT`."""
        value, _, methods = spec.partition(":")
        rate = float(value)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate {rate} is not between 0 and 1")
        return cls(rate, _parse_methods(methods))


def _parse_methods(text: str) -> frozenset[str] | None:
    if not text:
        return None
    methods = frozenset(m.strip().upper() for m in text.split(",") if m.strip())
    unknown = methods - METHODS
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(sorted(unknown))}")
    return methods


@dataclass(frozen=True, slots=True)
class Latency:
    """A fixed delay plus uniform jitter, in milliseconds, for the given methods."""

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0
    methods: frozenset[str] | None = None

    @classmethod
    def parse(cls, spec: str, jitter_ms: float = 0.0) -> Latency:
        """Read `MS` or `MS:METHOD,METHOD`."""
        value, _, methods = spec.partition(":")
        return cls(float(value), jitter_ms, _parse_methods(methods))


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Every fault the emulator can inject; the default injects nothing."""

    seed: int = 0
    latency: Latency = field(default_factory=Latency)
    errors: Rate = field(default_factory=Rate)  # answered 500 or 503, with no change made
    throttle: Rate = field(default_factory=Rate)  # API requests answered 429 with Retry-After
    retry_after: float = 1.0
    lose: Rate = field(default_factory=Rate)  # the change is made, then the connection is closed
    rps_limit: float | None = None  # more API requests than this in one second are answered 429
    upload_throttle: float = 0.0  # share of uploads answered 503 SlowDown
    upload_rps_limit: float | None = None  # more uploads than this in one second are answered 503 SlowDown

    def __post_init__(self) -> None:
        if self.throttle.methods is not None and "PUT" in self.throttle.methods:
            raise ValueError("the API's throttle never meets an upload (PUT): throttle uploads with upload_throttle")
        if not 0.0 <= self.upload_throttle <= 1.0:
            raise ValueError(f"rate {self.upload_throttle} is not between 0 and 1")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do to one request: wait `delay` seconds, then `action` (None: serve it normally)."""

    delay: float = 0.0
    # "error500" | "error503" | "throttle" | "rate_limit" | "upload_throttle" | "upload_rate_limit" | "lose"
    action: str | None = None


class FaultInjector:
    """Turns a FaultConfig into per-request decisions; thread-safe."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], int] = {}
        self._windows: dict[bool, deque[float]] = {False: deque(), True: deque()}  # by "is an upload"

    def _rng(self, method: str, route: str) -> random.Random:
        with self._lock:
            n = self._seen.get((method, route), 0)
            self._seen[(method, route)] = n + 1
        digest = hashlib.sha256(f"{self.config.seed}|{method}|{route}|{n}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def _over_rate_limit(self, upload: bool) -> bool:
        limit = self.config.upload_rps_limit if upload else self.config.rps_limit
        if not limit:
            return False
        now = time.monotonic()
        window = self._windows[upload]
        with self._lock:
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(now)
            return False

    def decide(self, method: str, route: str) -> Decision:
        """Decide the fault for one request to `route` (a path template such as /imports/{id})."""
        cfg = self.config
        rng = self._rng(method, route)
        delay = 0.0
        lat = cfg.latency
        if (lat.fixed_ms or lat.jitter_ms) and (lat.methods is None or method in lat.methods):
            delay = (lat.fixed_ms + rng.uniform(0.0, lat.jitter_ms)) / 1000.0
        # Draw every number in a fixed order so one fault's setting does not shift another's draws.
        draws = [rng.random() for _ in range(4)]
        upload = route == UPLOAD_ROUTE
        if self._over_rate_limit(upload):
            return Decision(delay, "upload_rate_limit" if upload else "rate_limit")
        if upload and draws[0] < cfg.upload_throttle:
            return Decision(delay, "upload_throttle")
        if not upload and cfg.throttle.applies(method) and draws[0] < cfg.throttle.rate:
            return Decision(delay, "throttle")
        if cfg.errors.applies(method) and draws[1] < cfg.errors.rate:
            return Decision(delay, "error503" if draws[2] < 0.5 else "error500")
        if cfg.lose.applies(method) and draws[3] < cfg.lose.rate:
            return Decision(delay, "lose")
        return Decision(delay)
