"""Files on disk: written so that readers see the old content or the new, never a part of it; read only
when they are regular files (a FIFO, a device or /dev/zero is refused before a byte is read) and bounded."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

# `.<name>.<pid>.<random>.tmp`: mkstemp's random part has no dot, so the pid cannot be misread.
_TEMP_SUFFIX = ".tmp"


def _temp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{name}.") + r"(\d+)\.[A-Za-z0-9_]+" + re.escape(_TEMP_SUFFIX))


def _process_is_gone(pid: int) -> bool:
    if os.name != "posix":
        return False  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # another user's process (EPERM), or not a pid: keep its file
    return False


def _remove_dead_writers_temps(path: Path) -> None:
    # A writer killed mid-write (SIGKILL, power loss) cannot clean up; its pid in the name tells a
    # leftover from a write in progress. Best effort: a failure here must not stop the write.
    pattern = _temp_pattern(path.name)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match and _process_is_gone(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)


def _mode_for(path: Path) -> int:
    """The mode the file has, or the one a plain open() would give it (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0o022)  # reading the umask means setting it; it is put back at once
        os.umask(mask)
        return 0o666 & ~mask


def write_atomically(path: Path, text: str) -> None:
    """A temp file in the same folder, fsync, rename over `path`, fsync the folder. Raises OSError."""
    folder = path.parent
    _remove_dead_writers_temps(path)
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=folder)
        os.fchmod(fd, _mode_for(path))  # mkstemp's 0600 would make a committed lockfile private
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        # Also on KeyboardInterrupt; one arriving inside mkstemp itself leaves a temp that the next
        # write removes once this process has exited.
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class RefusedFile(OSError):
    """A file the tool will not read: not a regular file, or too large. `strerror` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EINVAL, reason)

    def __str__(self) -> str:
        return self.strerror


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, before fstat could refuse it.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def refuse_unless_regular(mode: int) -> None:
    """Raise RefusedFile naming the kind of file (a FIFO, a device, ...) unless `mode` is a regular file's."""
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise RefusedFile(f"not a regular file ({kind})")


def open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of `path` (symbolic links followed), which must name a regular file.

    Never blocks and never reads: a FIFO, a device, a socket or a folder raises RefusedFile. Raises OSError.
    """
    refuse_unless_regular(os.stat(path).st_mode)  # so that no device is even opened
    fd = os.open(path, _READ_FLAGS)  # not inherited by child processes (PEP 446)
    try:
        refuse_unless_regular(os.fstat(fd).st_mode)  # what was opened, should the path have changed since
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path`, which may hold at most `limit`. Raises OSError (RefusedFile)."""
    with open(open_regular(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise RefusedFile(f"the file is {size:,} bytes; the limit is {limit:,}")
        data = f.read(limit + 1)
        if len(data) > limit:  # it grew while it was read
            raise RefusedFile(f"the file grew past the limit of {limit:,} bytes while it was read")
    return data


MAX_JSON_DEPTH = 64  # levels of nested objects and arrays; the lockfile and saved plans need six
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NESTED = (dict, list)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _refuse_lone_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and (bad := _SURROGATE.search(item)):
            raise ValueError(f"a string holds the lone surrogate \\u{ord(bad.group()):04x}, not valid Unicode")


def load_json_strictly(text: str) -> Any:
    """JSON text as values, refusing what could not be written back: NaN and Infinity, lone surrogates,
    and nesting deeper than MAX_JSON_DEPTH. Raises json.JSONDecodeError, or ValueError with one line."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels deep") from None
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(MAX_JSON_DEPTH):  # one level at a time, over containers only: this runs on every read
        level = [c for item in level for c in (item.values() if type(item) is dict else item) if type(c) in _NESTED]
    if level:
        raise ValueError(f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels deep")
    # A lone surrogate comes only from a \u escape (a file decoded as UTF-8 holds none): look only then.
    if ("\\u" in text and _SURROGATE_ESCAPE.search(text)) or (not text.isascii() and _SURROGATE.search(text)):
        _refuse_lone_surrogates(value)
    return value
