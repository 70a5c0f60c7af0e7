"""Ctrl-C (SIGINT) and SIGTERM during an apply.

    before the changes start   the first signal interrupts at once: nothing is in flight
    while they run             the first starts nothing new and lets the steps in flight finish;
                               the second stops at once: it waits for a lockfile write under way to
                               end (every create is journalled before it is sent), releases the
                               state lock, and exits 130
    after they ran             signals change nothing: an apply that completed reports success

The process's exit code for an interrupted apply is 130 (128 + SIGINT), as shells report it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

EXIT_INTERRUPTED = 130
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def leave_signals_to_the_main_thread() -> None:
    """Block SIGINT and SIGTERM in the calling (worker) thread. Python runs handlers on the main thread
    only, and a signal the kernel hands to another thread does not wake a main thread blocked waiting for
    a result; with the workers refusing them, the kernel delivers to the main thread."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


class Interrupt:
    """The state of one apply's signal handling; `stop` is what the executor watches."""

    def __init__(self, say: Callable[[str], None] = lambda message: None) -> None:
        self.stop = threading.Event()
        self._say = say
        self._in_flight: Callable[[], int] | None = None
        self._quiet: Callable[[], AbstractContextManager[object]] = nullcontext
        self._release: Callable[[], None] = lambda: None
        self._finished = False

    @contextmanager
    def installed(self) -> Iterator[Interrupt]:
        """Handle SIGINT and SIGTERM while the block runs (only the main thread can)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in _SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def executing(
        self,
        in_flight: Callable[[], int],
        quiet: Callable[[], AbstractContextManager[object]],
        release: Callable[[], None],
    ) -> None:
        """The changes start: `in_flight` counts running steps, `quiet` holds off lockfile writes,
        `release` frees the state lock."""
        self._in_flight, self._quiet, self._release = in_flight, quiet, release

    def finished(self) -> None:
        """The changes are done: from here on a signal is ignored."""
        self._finished = True

    @property
    def interrupted(self) -> bool:
        return self.stop.is_set()

    def _handle(self, signum: int, frame: object) -> None:
        if self._finished:
            return
        if self._in_flight is None:
            raise KeyboardInterrupt
        if not self.stop.is_set():
            self.stop.set()
            self._say(f"interrupting: finishing {self._in_flight()} steps in flight; Ctrl-C again to stop at once")
            return
        self._say("stopping at once; the next apply finishes what was in flight")
        # Not in the handler: the main thread may be inside a lockfile write whose lock it holds.
        threading.Thread(target=self._stop_now, name="stop-now", daemon=True).start()

    def _stop_now(self) -> None:
        with self._quiet():
            self._release()
            os._exit(EXIT_INTERRUPTED)
