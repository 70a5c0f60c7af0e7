"""The emulator in a process of its own (as the real API is another machine), for tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class EmulatorProcess:
    """A running `websets-reconciler emulator` process and the URL it serves."""

    process: subprocess.Popen[str]
    base_url: str


@contextmanager
def emulator_process(*options: str) -> Iterator[EmulatorProcess]:
    """Start `websets-reconciler emulator --port 0 OPTIONS...` on loopback; stop it on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http://"):
            raise RuntimeError(f"the emulator did not start (exit code {process.poll()})")
        yield EmulatorProcess(process, base_url)
    finally:
        process.terminate()
        process.wait(timeout=30)
