"""`doctor`: check, against the service a key reaches, what the tool relies on but the API docs leave open.

    authentication  the key works; an obviously wrong key is refused
    listing         limit=200; cursors lead to hasMore: false with no repeats; newest first; a create is
                    first in the very next listing (the state lock on the service relies on that)
    metadata        a PATCH replaces, merges, or merges unsetting empty values, and a GET agrees
    upload          a body of another length than the declared size (an observation)
    pending         the upload window outlasts the state lock's lease; imports past their window (an observation)

One throwaway import serves every check. It is titled THROWAWAY_TITLE and carries none of the owner
stamps, so no manifest ever claims it, and it is deleted before `run` returns or raises (Ctrl-C and a
failed check included); a delete that fails is said in one line naming its id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.doctor.listing import (
    cursors_row,
    expired_row,
    full_walk,
    limit_row,
    newest_first_row,
    read_after_write_row,
    small_walk,
    window_row,
)
from reconciler.doctor.probes import DECLARED, EMPTIED, KEPT, patch_row, upload_row, wrong_key_row
from reconciler.doctor.rows import KEY_ACCEPTED, Row
from reconciler.errors import ReconcilerError
from reconciler.remote.client import ApiClient, OutcomeUnknown
from reconciler.remote.state import PAGE_SIZE

__all__ = ["THROWAWAY_TITLE", "WRONG_KEY", "Report", "Row", "run"]

THROWAWAY_TITLE = "websets-reconciler doctor: throwaway, safe to delete"
NONCE = "websets-reconciler-doctor"  # a metadata key outside the stamps: finds a create whose answer was lost
WRONG_KEY = "websets-reconciler-doctor-wrong-key"  # the key the second client sends, to be refused

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Report:
    """Every row, and the line that names the throwaway import when it could not be deleted."""

    rows: list[Row]
    left_behind: str | None = None


def throwaway_body(nonce: str) -> dict[str, Any]:
    """The create body of the throwaway import: one record declared, never uploaded as declared."""
    return {
        "format": "csv",
        "size": len(DECLARED),
        "count": 1,
        "title": THROWAWAY_TITLE,
        "entity": {"type": "company"},
        "metadata": {NONCE: nonce, KEPT: "1", EMPTIED: "1"},
        "csv": {"identifier": 0},
    }


def run(client: ApiClient, stranger: ApiClient, say: Say) -> Report:
    """Run every check; `stranger` sends an obviously wrong key. `say` hears, at once, that a throwaway was
    left behind by a run that ends in an error or a Ctrl-C."""
    client.list_page(limit=1)  # nothing can be checked with a key that does not work: the usual error
    rows = [Row(KEY_ACCEPTED, "a listing answered 200", True), wrong_key_row(stranger)]
    created = _create(client, say)
    try:
        rows += _checks(client, created)
    except BaseException:
        if (line := _discard(client, created["id"], say)) is not None:
            say(line)
        raise
    return Report(rows, _discard(client, created["id"], say))


def _checks(client: ApiClient, created: dict[str, Any]) -> list[Row]:
    # The first listing after the create tests read-after-write; the upload probe comes after the PATCH
    # (an accepted upload would end the pending state) and before the last listing, which shows whether
    # the throwaway is still pending at the end.
    small = small_walk(client)
    patched = patch_row(client, created)
    uploaded, landed = upload_row(client, created)
    full = full_walk(client)
    return [
        limit_row(full),
        cursors_row(small, full),
        newest_first_row(small, full),
        read_after_write_row(created, small),
        patched,
        uploaded,
        window_row(created, full, landed),
        expired_row(created, full),
    ]


def _create(client: ApiClient, say: Say) -> dict[str, Any]:
    nonce = uuid.uuid4().hex
    try:
        return client.create(throwaway_body(nonce))
    except (OutcomeUnknown, KeyboardInterrupt):
        _discard_lost_create(client, nonce, say)
        raise


def _discard_lost_create(client: ApiClient, nonce: str, say: Say) -> None:
    """Delete the throwaway a create made though its answer was lost: the newest page shows it by its nonce."""
    try:
        page = client.list_page(limit=PAGE_SIZE)
    except ReconcilerError:
        say(f"Error: the throwaway import may have been made; if one titled {THROWAWAY_TITLE!r} is listed, delete it")
        return
    for item in page["data"]:
        if (item.get("metadata") or {}).get(NONCE) == nonce and (line := _discard(client, item["id"], say)):
            say(line)


def _discard(client: ApiClient, import_id: str, say: Say) -> str | None:
    """Delete the throwaway; when that fails, the one line that names it (said at once on a Ctrl-C,
    which is raised again)."""
    try:
        client.delete(import_id)
    except ReconcilerError as exc:
        return left_behind(import_id, str(exc))
    except KeyboardInterrupt:
        say(left_behind(import_id, "interrupted"))
        raise
    return None


def left_behind(import_id: str, why: str) -> str:
    """The line that names a throwaway import the run could not delete."""
    return (
        f"Error: the throwaway import {import_id} was not deleted ({why}); delete it: it is titled {THROWAWAY_TITLE!r}"
    )
