"""The other SDKs the suite drives the emulator with, each installed from its package index on first use:
the newest exa-py in a venv of its own (`.venv-sdk-newest`, from requirements-newest.txt) and exa-js from
the npm registry (`tests/sdk/js/node_modules`, by `npm ci` from its lockfile). Both folders are git-ignored
and rebuilt when their pins change.

`python -m tests.sdk.environments` prepares both, as .ci/run does before the tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NEWEST_REQUIREMENTS = HERE / "requirements-newest.txt"
NEWEST_VENV = ROOT / ".venv-sdk-newest"
JS_DIR = HERE / "js"


class SetupFailed(RuntimeError):
    """An SDK could not be installed (no node or npm, no package index, a failed install)."""


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # Two test runs in one checkout must not build the same folder at once.
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(command: list[str], cwd: Path = ROOT) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise SetupFailed(f"{' '.join(command)} failed with exit code {result.returncode}:\n" + "\n".join(tail))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def newest_exa_py() -> Path:
    """The python of a venv that holds exactly the pins of requirements-newest.txt."""
    python = NEWEST_VENV / "bin" / "python"
    marker = NEWEST_VENV / "installed-from.sha256"
    wanted = _digest(NEWEST_REQUIREMENTS)
    with _exclusive(ROOT / ".venv-sdk-newest.lock"):
        if python.exists() and marker.is_file() and marker.read_text() == wanted:
            return python
        shutil.rmtree(NEWEST_VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(NEWEST_VENV)])
        _run([str(python), "-m", "pip", "install", "--quiet", "-r", str(NEWEST_REQUIREMENTS)])
        marker.write_text(wanted)  # last: an interrupted build is rebuilt
    return python


def node() -> str:
    """The `node` executable; its absence is a failure, never a reason to skip."""
    found = shutil.which("node")
    if found is None or shutil.which("npm") is None:
        raise SetupFailed("node and npm are required to check exa-js against the emulator (Node.js 18 or newer)")
    return found


def exa_js() -> Path:
    """tests/sdk/js with its node_modules installed by `npm ci` from package-lock.json."""
    node()
    npm = shutil.which("npm")
    assert npm is not None
    marker = JS_DIR / "node_modules" / ".installed-from.sha256"
    wanted = _digest(JS_DIR / "package-lock.json")
    with _exclusive(JS_DIR / ".install.lock"):
        if not (marker.is_file() and marker.read_text() == wanted):
            _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR)
            marker.write_text(wanted)
    return JS_DIR


def main() -> None:
    """Prepare both environments; one line and exit code 1 on failure."""
    try:
        print(f"newest exa-py: {newest_exa_py()}")
        print(f"exa-js: {exa_js() / 'node_modules'}")
    except SetupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
