"""The doctor's rows (assumption / observed / ok), the verdict they add up to, and their text and JSON forms."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from reconciler.model import DEFAULT_LEASE
from reconciler.redact import redact

KEY_ACCEPTED = "authentication: the key is accepted"
WRONG_KEY = "authentication: a wrong key is refused (401 or 403)"
LIMIT = "listing: limit=200 is accepted"
CURSORS = "listing: nextCursor leads to hasMore: false, no cursor or id repeated"
NEWEST_FIRST = "listing: newest first (createdAt never increases)"
READ_AFTER_WRITE = "listing: a new import is first in the very next listing"
PATCH = "PATCH metadata: replace, merge or merge-unset; its answer equals a GET"
UPLOAD = "upload: a body of another length than the declared size"
WINDOW = f"pending: a never-uploaded import stays pending for {DEFAULT_LEASE:g} s or more"
EXPIRED = "pending: imports past their upload window with no upload"

_MARKS = {(True, True): "ok", (False, True): "FAIL", (True, False): "info", (False, False): "info"}


@dataclass(frozen=True, slots=True)
class Row:
    """One assumption, what the service showed of it, whether it holds, and whether the tool relies on it
    (a row it does not rely on is an observation: it never fails the run)."""

    assumption: str
    observed: str
    ok: bool
    relied_on: bool = True


def failed(rows: Sequence[Row]) -> list[Row]:
    """The rows the tool relies on that do not hold."""
    return [row for row in rows if row.relied_on and not row.ok]


def verdict(rows: Sequence[Row]) -> str:
    """One line: every relied-on assumption holds, or which ones failed."""
    relied = [row for row in rows if row.relied_on]
    bad = failed(rows)
    if not bad:
        return f"Every assumption the tool relies on holds ({len(relied)} of {len(relied)})."
    names = "; ".join(row.assumption for row in bad)
    return f"Error: {len(bad)} of {len(relied)} assumptions the tool relies on failed: {names}"


def render_text(rows: Sequence[Row], base_url: str) -> str:
    """The rows as a plain-text table under a heading that names the service checked."""
    width = max(len(row.assumption) for row in rows)
    lines = [f"websets-reconciler doctor: {base_url}", "", f"{'ok':4}  {'assumption':{width}}  observed"]
    for row in rows:
        lines.append(f"{_MARKS[row.ok, row.relied_on]:4}  {row.assumption:{width}}  {row.observed}")
    return redact("\n".join(lines))


def render_json(rows: Sequence[Row]) -> str:
    """The rows as a JSON list of {assumption, observed, ok, relied_on}."""
    return redact(json.dumps([asdict(row) for row in rows], indent=2))
