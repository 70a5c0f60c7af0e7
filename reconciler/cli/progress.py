"""Progress a person can see, on stderr: a live status line on a terminal, heartbeats in a log.

    on a terminal   one status line, redrawn in place (carriage return, erase line) at most ten times a
                    second, and erased before any other line is printed, so per-key lines and the plan
                    stay readable
    in a log (CI)   "apply: 120/500 done, 16 processing (longest 42 s), 3 retries; about 1 min left"
                    every 10 s while anything waits, and whenever 10 s pass without output: a log never
                    sits silent for a minute while the run is not finished

Nothing reaches stdout except through `line`, so `--json` output stays pure. The clock, the terminal
decision and the writer are parameters: tests drive a Display with a fake clock and call `tick`.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import click

from reconciler.redact import redact

REDRAW = 0.1  # seconds between redraws of the live line: at most ten a second
HEARTBEAT = 10.0  # seconds of silence (or between reports while something waits) before a log's heartbeat
LOG_TICK = 0.5  # how often a log's display looks whether a heartbeat is due
ETA_AFTER = 3  # steps done before an ETA is shown: the first ones carry start-up costs and are no guide
NOTICE_FOR = 5.0  # seconds a retry's message stays on the live line
ERASE = "\r\x1b[2K"  # back to the start of the line, and clear it
# The client's retry notices say "retry 2/5"; its others (a long wait for the request budget) are shown
# but are no retry.
_RETRY = re.compile(r"\bretry \d+/\d+")

Write = Callable[[str, bool], None]  # (text, to stderr)


def _echo(text: str, err: bool) -> None:
    click.echo(text, nl=False, err=err)


def _columns() -> int:
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns or shutil.get_terminal_size().columns or 80


def is_terminal(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether stderr (or `stream`) is a terminal that can redraw a line (TERM=dumb cannot erase one)."""
    stream = sys.stderr if stream is None else stream
    env = os.environ if env is None else env
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False
    return tty and env.get("TERM") != "dumb"


def duration(seconds: float, *, rounded: bool = False) -> str:
    """'42 s', '3 min', '2 h 5 min'; `rounded` (for an estimate) rounds seconds up to fives and minutes
    to the nearest, instead of down."""
    if rounded:
        seconds = max(5, math.ceil(seconds / 5) * 5) if seconds < 57.5 else round(seconds / 60) * 60
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


class Display:
    """The progress of one command (`plan` or `apply`): what it counts, shown as a live line on a terminal
    (`live`) or as heartbeat lines in a log. Thread-safe: the executor's workers report to it."""

    def __init__(
        self,
        command: str,
        *,
        live: bool,
        clock: Callable[[], float] = time.monotonic,
        write: Write = _echo,
        columns: Callable[[], int] = _columns,
    ) -> None:
        self.command, self.live = command, live
        self._clock, self._write, self._columns = clock, write, columns
        # Re-entrant: a signal handler on the main thread may print while the main thread is printing.
        self._lock = threading.RLock()
        now = clock()
        self._opened = self._steps_from = self._last_output = self._last_heartbeat = now
        self._total: int | None = None
        self._done = 0
        self._waiting: dict[str, float] = {}
        self._retries = 0
        self._notice: tuple[float, str] | None = None
        self._read: int | None = None  # imports read by the listing under way; None when none is
        self._paused = self._closed = False
        self._shown = ""  # the live line on the screen now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_command(cls, command: str, *, live: bool | None = None) -> Display:
        """A display on stderr, live when stderr is a terminal (unless `live` says otherwise)."""
        return cls(command, live=is_terminal() if live is None else live)

    # -- what is counted --------------------------------------------------------------------------

    def total(self, n: int) -> None:
        """The changes start: n steps in all (this also ends a pause)."""
        with self._lock:
            self._total, self._done, self._steps_from, self._paused = n, 0, self._clock(), False

    def step_done(self, key: str) -> None:
        """A step ended (done, failed or left processing)."""
        with self._lock:
            self._done += 1
            self._waiting.pop(key, None)

    def waiting(self, key: str, import_id: str) -> None:
        """The key's import is processing and the step waits for it."""
        with self._lock:
            self._waiting[key] = self._clock()

    def waited(self, key: str) -> None:
        """The key's wait for processing is over."""
        with self._lock:
            self._waiting.pop(key, None)

    def notice(self, message: str) -> None:
        """A line from the client: a retry it is about to make ("503 from POST /imports; retry 2/5 in
        1.6 s"), counted, or another wait; the latest is shown for a while on a terminal, and in a log
        each one is a line of its own (a log has no live line to show it on)."""
        with self._lock:
            self._retries += bool(_RETRY.search(message))
            self._notice = (self._clock(), redact(message))
            if not self.live and not self._paused and not self._closed:
                self._write(f"{self.command}: {self._notice[1]}\n", True)
                self._last_output = self._clock()

    def attach(self, client: Any) -> None:
        """Hear the client's retries, and count the imports each listing reads (by wrapping `list_page`)."""
        client.notice = self.notice
        inner = client.list_page

        def list_page(cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
            if cursor is None:
                self._set_read(0)
            try:
                page = inner(cursor, limit)
            except BaseException:
                self._set_read(None)
                raise
            with self._lock:
                self._read = (self._read or 0) + len(page.get("data") or [])
                if not page.get("hasMore"):
                    self._read = None
            return page

        client.list_page = list_page

    def _set_read(self, value: int | None) -> None:
        with self._lock:
            self._read = value

    # -- what is shown ----------------------------------------------------------------------------

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far; None until a few steps are done, and once all are."""
        with self._lock:
            if self._total is None or self._done < ETA_AFTER or self._done >= self._total:
                return None
            now = self._clock() if now is None else now
            return (now - self._steps_from) / self._done * (self._total - self._done)

    def status(self, now: float | None = None, *, notices_since: float | None = None) -> str:
        """The status line, e.g. "apply: 3/10 done, 2 processing (longest 12 s), 1 retry; about 20 s left";
        the client's latest notice is added when it came at or after `notices_since`."""
        with self._lock:
            now = self._clock() if now is None else now
            if self._total is not None:
                parts = [f"{self._done}/{self._total} done"]
                if self._waiting:
                    longest = now - min(self._waiting.values())
                    parts.append(f"{len(self._waiting)} processing (longest {duration(longest)})")
            elif self._read is not None:
                parts = [f"listing imports: {self._read:,} read"]
            else:
                parts = [f"working ({duration(now - self._opened)})"]
            latest = None
            if self._notice is not None and notices_since is not None and self._notice[0] >= notices_since:
                latest = self._notice[1]
            if self._retries:
                retries = f"{self._retries} retr{'y' if self._retries == 1 else 'ies'}"
                parts.append(retries + (f" (latest: {latest})" if latest else ""))
            elif latest:
                parts.append(latest)
            eta = self.eta(now)
            left = f"; about {duration(eta, rounded=True)} left" if eta is not None else ""
            return f"{self.command}: {', '.join(parts)}{left}"

    def line(self, text: str, *, err: bool = False, nl: bool = True) -> None:
        """Print a normal line (stdout, or stderr with `err`), erasing the live line first."""
        with self._lock:
            self._erase()
            self._write(text + "\n" if nl else text, err)
            self._last_output = self._clock()

    def pause(self) -> None:
        """Erase the live line and show nothing, heartbeats included, until `resume` or `total` (a prompt)."""
        with self._lock:
            self._erase()
            self._paused = True

    def resume(self) -> None:
        """Show progress again after `pause`."""
        with self._lock:
            self._paused = False
            self._last_output = self._clock()

    def tick(self) -> None:
        """Redraw the live line when it changed, or print a heartbeat when one is due (the ticker's work)."""
        with self._lock:
            if self._paused or self._closed:
                return
            now = self._clock()
            if self.live:
                text = self._fit(self.status(now, notices_since=now - NOTICE_FOR))
                if text != self._shown:
                    self._write(ERASE + text, True)
                    self._shown = text
                return
            silent = now - self._last_output >= HEARTBEAT
            if silent or (self._waiting and now - self._last_heartbeat >= HEARTBEAT):
                self._write(self.status(now, notices_since=self._last_heartbeat) + "\n", True)
                self._last_output = self._last_heartbeat = now

    def _fit(self, text: str) -> str:
        # One character short of the width: writing the last column makes some terminals wrap.
        width = max(20, self._columns() - 1)
        return text if len(text) <= width else text[: width - 3] + "..."

    def _erase(self) -> None:
        if self._shown:
            self._write(ERASE, True)
            self._shown = ""

    # -- the ticker ---------------------------------------------------------------------------------

    def start(self) -> Display:
        """Start the background ticker (a daemon thread that sleeps on an Event between ticks)."""
        interval = REDRAW if self.live else LOG_TICK
        self._thread = threading.Thread(target=self._run, args=(interval,), name="progress", daemon=True)
        self._thread.start()
        return self

    def _run(self, interval: float) -> None:
        from reconciler.apply.interrupt import leave_signals_to_the_main_thread

        leave_signals_to_the_main_thread()  # Ctrl-C must wake the main thread, never this one
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:  # a stderr that cannot be written (a closed pipe) must not disturb the run
                return

    def close(self) -> None:
        """Stop the ticker and erase the live line; nothing is shown afterwards."""
        with self._lock:
            self._closed = True
            self._erase()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Display:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
