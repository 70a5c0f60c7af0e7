"""The manifest's owner and `lock:` section, read before the state lock is taken.

Apply needs them first: the lock is per owner, and it is held before anything a plan is built on is read.
A full parse of ten thousand imports takes a second; these two top-level entries take a millisecond.
A manifest laid out otherwise (a flow mapping, an anchor, anything this reading cannot vouch for) is
loaded whole instead, which also reports its mistakes the usual way.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from reconciler.model import DEFAULT_LEASE, LOCK_BACKENDS, LockSettings, is_key

_TOP_LEVEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*:(?:[ \t]|$)")
_LEASE = (60.0, 1800.0)  # as the manifest schema bounds lock.lease


def _blocks(text: str, wanted: tuple[str, ...]) -> dict[str, str] | None:
    """The text of each wanted top-level entry of a block-style YAML mapping; None if the layout is
    not one this reading understands."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    saw_key = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or line[0] in " \t":
            if current is not None:
                current.append(line)
            continue
        if line.startswith(("---", "%")) and not saw_key:
            continue  # a document start or a directive before the mapping
        match = _TOP_LEVEL.match(line)
        if match is None:
            return None  # a flow mapping, a document marker, a complex key: not for this reading
        saw_key = True
        name = match.group(1)
        if name in found:
            return None  # a key given twice: the full loader says so
        current = found[name] = [line] if name in wanted else []
    return {name: "\n".join(lines) for name, lines in found.items() if name in wanted} if saw_key else None


def _settings(document: dict[str, Any]) -> tuple[str, LockSettings] | None:
    owner, lock = document.get("owner"), document.get("lock", {})
    if not isinstance(owner, str) or not is_key(owner) or not isinstance(lock, dict):
        return None
    backend, lease = lock.get("backend", "service"), lock.get("lease", DEFAULT_LEASE)
    if set(lock) - {"backend", "lease"} or backend not in LOCK_BACKENDS:
        return None
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not _LEASE[0] <= lease <= _LEASE[1]:
        return None
    return owner, LockSettings(backend, float(lease))


def read_head(path: str | os.PathLike[str]) -> tuple[str, LockSettings] | None:
    """The owner and lock settings of the manifest at `path`; None when they cannot be read this quickly
    and surely (then load the manifest whole)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    blocks = _blocks(text, ("owner", "lock"))
    if blocks is None or "owner" not in blocks:
        return None
    snippet = "\n".join(blocks.values())
    if "&" in snippet or "*" in snippet or "!" in snippet:
        return None  # anchors, aliases and tags refer to the rest of the document
    try:
        document = yaml.load(snippet, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    return _settings(document) if isinstance(document, dict) else None
